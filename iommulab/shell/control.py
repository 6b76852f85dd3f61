"""Control flow the commands share with the session: `exit` (and `bash -c` around it)."""


class ExitShell(Exception):
    def __init__(self, status):
        self.status = status
