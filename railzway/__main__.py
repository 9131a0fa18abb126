"""`python -m railzway <command>`."""

from railzway.cli import main

main()
