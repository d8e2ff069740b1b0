"""liberi's exceptions and warnings: one class per eri_status, each also the
standard exception a Python caller would expect, so `except ValueError` or
`except OSError` work as well as `except liberi.InvalidArgument`.

    Error(RuntimeError)                      any failed liberi call; .status, .message
    ├── InvalidArgument(Error, ValueError)   ERI_ERR_INVALID_ARGUMENT, and inputs the package refuses
    ├── FileError(Error, OSError)            ERI_ERR_IO: a file missing, unreadable, a folder
    │   └── LibraryError                     liberi.so not found or not loadable
    ├── FormatError(Error, ValueError)       ERI_ERR_FORMAT: a malformed model or media file
    ├── Unsupported(Error, NotImplementedError)  ERI_ERR_UNSUPPORTED
    ├── MissingModality(Error, ValueError)   ERI_ERR_MISSING_MODALITY
    ├── DecodeError(Error, ValueError)       ERI_ERR_DECODE: corrupt media
    ├── OutOfMemory(Error, MemoryError)      ERI_ERR_OUT_OF_MEMORY
    ├── Cancelled(Error)                     ERI_ERR_CANCELLED: a progress callback returned False
    └── InternalError(Error)                 ERI_ERR_INTERNAL: a bug in liberi, please report it
"""
from __future__ import annotations

import enum
from typing import Dict, Optional, Tuple, Type


class Status(enum.IntEnum):
    """eri_status: the code every fallible C call returns (0 = OK). Compares equal to the C integers."""
    OK = 0
    INVALID_ARGUMENT = 1
    IO = 2
    FORMAT = 3
    UNSUPPORTED = 4
    MISSING_MODALITY = 5
    DECODE = 6
    OUT_OF_MEMORY = 7
    CANCELLED = 8
    INTERNAL = 9


class Error(RuntimeError):
    """A liberi call failed (or the package refused an input before calling liberi).

    Attributes:
        status: the eri_status code (a `Status`; an int for codes this package does not know).
        message: what went wrong, in words (liberi's eri_last_error(), or the package's own text).

    Catch a subclass for one kind of failure; each subclass also derives from the matching
    standard exception (ValueError, OSError, MemoryError, NotImplementedError).
    """
    default_status: Status = Status.INTERNAL

    def __init__(self, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.message: str = message
        code = self.default_status if status is None else status
        self.status: int = Status(code) if code in Status._value2member_map_ else code

    def __reduce__(self) -> Tuple[Type[Error], Tuple[str, int]]:
        return type(self), (self.message, self.status)

    def __str__(self) -> str:
        return self.message


class InvalidArgument(Error, ValueError):
    """ERI_ERR_INVALID_ARGUMENT: an input liberi cannot read as given (a shape, dtype, range, size, box,
    sample rate, …). The package raises it too, before calling liberi, for inputs it would otherwise misread;
    the message names the problem and what to pass instead."""
    default_status = Status.INVALID_ARGUMENT


class FileError(Error, OSError):
    """ERI_ERR_IO: a file is missing, unreadable or a folder; the message names it."""
    default_status = Status.IO


class LibraryError(FileError):
    """liberi.so could not be found or loaded (or is too old for this package); the message says
    where the package looked and why each place failed."""


class FormatError(Error, ValueError):
    """ERI_ERR_FORMAT: a file is malformed (a truncated or foreign model, a file that is not media)."""
    default_status = Status.FORMAT


class Unsupported(Error, NotImplementedError):
    """ERI_ERR_UNSUPPORTED: valid but not supported here (a newer model format, a dtype, or a C function
    this liberi.so lacks)."""
    default_status = Status.UNSUPPORTED


class MissingModality(Error, ValueError):
    """ERI_ERR_MISSING_MODALITY: the model lacks the branch the input needs (frames for an audio-only model),
    or there is no input at all (a media file without a usable track, a stream read before any push)."""
    default_status = Status.MISSING_MODALITY


class DecodeError(Error, ValueError):
    """ERI_ERR_DECODE: media could not be decoded (a corrupt file)."""
    default_status = Status.DECODE


class OutOfMemory(Error, MemoryError):
    """ERI_ERR_OUT_OF_MEMORY."""
    default_status = Status.OUT_OF_MEMORY


class Cancelled(Error):
    """ERI_ERR_CANCELLED: the progress callback returned False and liberi stopped."""
    default_status = Status.CANCELLED


class InternalError(Error):
    """ERI_ERR_INTERNAL: a bug in liberi; please report it with the message."""
    default_status = Status.INTERNAL


_BY_STATUS: Dict[int, Type[Error]] = {cls.default_status: cls for cls in (
    InvalidArgument, FileError, FormatError, Unsupported, MissingModality, DecodeError, OutOfMemory, Cancelled,
    InternalError)}


def error_for(status: int, message: str) -> Error:
    """The exception for a failed call: the subclass of `Error` that matches `status`."""
    return _BY_STATUS.get(status, Error)(message, status)


class ReliabilityWarning(UserWarning):
    """An estimate came back but deserves less trust: random (untrained) weights, a missing modality, an input
    much longer than the model's training clips. Issued once per predict call (pass warn=False to turn it
    off); the result's "warnings" and "warning_text" say the same."""


for _cls in (Status, Error, InvalidArgument, FileError, LibraryError, FormatError, Unsupported, MissingModality,
             DecodeError, OutOfMemory, Cancelled, InternalError, ReliabilityWarning):
    _cls.__module__ = "liberi"  # users meet them as liberi.X (tracebacks, pickling)
