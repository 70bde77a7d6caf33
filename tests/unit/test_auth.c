/* placeholder until the module tests are written: reported as skipped */
int main(void)
{
	return 77;
}
