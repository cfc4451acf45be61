"""Filter benchmark: every filter method on the Lorenz settings of :mod:`geobayes.filters.configs`."""
