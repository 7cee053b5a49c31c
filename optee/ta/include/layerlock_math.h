/*
 * Double-precision elementary functions for layerlock's OP-TEE TA (issue 17, milestone 2):
 * a TA links no libm. Textbook algorithms written here (Cody–Waite range reduction and
 * Taylor/atanh series), accurate to a few units in the last place of a double: far finer
 * than the float32 values the layers store, so results round to the same float32 as the
 * engine's (V8's) in all but rare cases; the tests measure how rare.
 */
#ifndef LAYERLOCK_MATH_H
#define LAYERLOCK_MATH_H

/* e^x for x <= 0 (softmax only needs that) */
double ll_exp_nonpositive(double x);
/* e^x for any x (+inf above 709.78; the logistic activation needs positive arguments too) */
double ll_exp(double x);
/* natural log for finite x > 0 */
double ll_log(double x);
/* sin and cos of x for 0 <= x < 2^20 (Box–Muller needs [0, 2π)) */
void ll_sincos(double x, double *s, double *c);
/* correctly rounded square root (IEEE 754: any conforming sqrt equals JavaScript's) */
double ll_sqrt(double x);

#endif
