/* Shared inside src/plan only: the CSV field splitter both table readers use. */
#ifndef FERRY_PLAN_INT_H
#define FERRY_PLAN_INT_H

/*
 * Splits one CSV line in place: fields separated by commas, a field may be "quoted"
 * with "" standing for a quote. Returns the number of fields, or -1 with *why set.
 */
int ferry_plan_csv_split(char *line, char **f, int max, const char **why);

#endif
