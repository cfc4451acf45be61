"""Shared jitted maths (special functions, log-sum-exp, resampling, linear algebra)."""
