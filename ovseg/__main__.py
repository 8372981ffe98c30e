"""``python -m ovseg`` is the ``ovseg`` command."""

from ovseg.cli import main

if __name__ == "__main__":
    main()
