# hoist: two set-up commands on a fresh Debian 12 machine.
#   make demo   install packages (apt-get, via sudo when not root), build,
#               run the demo on the embedded default store
#   make test   build with ASan+UBSan and run every test; the last line
#               is "N passed, N failed"
# Other targets: deps, build, build-asan, bench, clean.

BUILD      ?= build
ASAN_BUILD ?= build-asan
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Build and library dependencies, and the real peers the tests drive.
PKGS_BUILD := build-essential meson ninja-build pkg-config \
	libcurl4-openssl-dev libssl-dev libjansson-dev libarchive-dev \
	zlib1g-dev libdeflate-dev libisal-dev libzstd-dev libmicrohttpd-dev \
	libcmocka-dev
PKGS_TEST  := docker-registry skopeo umoci busybox-static apache2-utils \
	python3 jq curl openssl tar gzip pigz bc time uidmap podman buildah runc

.PHONY: demo test deps build build-asan bench clean

demo: deps build
	./demo/run.sh $(BUILD)/hoist

test: build build-asan
	./tests/run.sh $(ASAN_BUILD)

deps:
	@if dpkg-query -W -f='$${Status}\n' $(PKGS_BUILD) $(PKGS_TEST) 2>/dev/null | grep -qv '^install ok installed' \
	   || [ "$$(dpkg-query -W -f='$${Status}\n' $(PKGS_BUILD) $(PKGS_TEST) 2>/dev/null | wc -l)" -lt "$(words $(PKGS_BUILD) $(PKGS_TEST))" ]; then \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $(PKGS_BUILD) $(PKGS_TEST); \
	fi

build:
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD) --buildtype=release
	ninja -C $(BUILD)

build-asan:
	@[ -f $(ASAN_BUILD)/build.ninja ] || meson setup $(ASAN_BUILD) \
		-Db_sanitize=address,undefined -Db_lundef=false --buildtype=debug
	ninja -C $(ASAN_BUILD)

bench: build
	./bench/run.sh $(BUILD)/hoist

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
