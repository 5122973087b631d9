// staff console script (built out by the console page work)
