import sys

try:
    from fairskin.cli import main
except KeyboardInterrupt:  # Ctrl-C while Python is still importing: nothing started
    sys.exit(130)

sys.exit(main())
