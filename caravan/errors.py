"""The one exception family the CLI turns into a single clear line."""


class CaravanError(Exception):
    """An error the user can act on: bad input, missing file, unknown id.

    The message must name the file, row or request at fault. The CLI prints it as one
    line without a traceback (unless --debug).
    """
