"""The ``geobayes`` command line (argparse); see ``geobayes --help``."""
