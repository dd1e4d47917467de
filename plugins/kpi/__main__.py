"""`python -m plugins.kpi`: the kpi plugin's record writer process (writer_process.py), which the
plugin starts itself; not a command for people."""

from .writer_process import main

main()
