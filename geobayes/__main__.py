"""``python -m geobayes`` runs the command line."""

from geobayes.cli.main import main

raise SystemExit(main())
