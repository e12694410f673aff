"""One module per `clean-labels` command. Each defines `command`, a click command that parses its
options, calls one library function and prints a short summary; `cli.py` registers them in the
order of `COMMANDS`. Shared option decorators and the error edge live in `common.py`."""

COMMANDS = ("train", "rank", "export", "check", "report", "review", "predict", "noise", "demo")
