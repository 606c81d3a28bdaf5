"""The tests, laid out as the packages they test (iclm/, analysis/, studio/), plus e2e/ and scripts/."""
