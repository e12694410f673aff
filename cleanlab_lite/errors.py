"""The exceptions the library raises. The CLI turns `UserInputError` into exit code 2 and
`RuntimeFailure` into exit code 3, printing the message as one `Error: ...` line."""


class UserInputError(Exception):
    """Bad usage or bad input the user can fix: message names the file/row/column and the fix."""


class ManifestError(UserInputError):
    """The manifest is missing, unreadable, or lacks a required column."""


class ColumnError(ManifestError):
    """A named column is missing from the manifest or holds unusable values."""


class ImageError(UserInputError):
    """An image listed in the manifest is missing or cannot be decoded."""


class DataError(UserInputError):
    """Features, labels or folds that cannot be used as given (NaN, too few rows per class...)."""


class PredProbsError(UserInputError):
    """pred_probs has the wrong shape, dtype or values."""


class LabelsError(UserInputError):
    """Labels are missing, of the wrong length, or outside the classes."""


class ConfigError(UserInputError):
    """A config file or option value is invalid."""


class RunFolderError(UserInputError):
    """A run folder is missing a file the command needs (e.g. rank before train)."""


class DecisionsError(UserInputError):
    """A decisions file is unreadable, lacks a column, or names a row or class the run lacks."""


class RuntimeFailure(Exception):
    """A failure that is not the user's input (e.g. GPU out of memory); message names the way out."""


class OutputError(UserInputError):
    """An output path that cannot or must not be written (an input, a run file, unwritable)."""
