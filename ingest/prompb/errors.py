"""The one error the remote-write decoders raise."""

from __future__ import annotations


class DecodeError(ValueError):
    """A request body that is not a valid protobuf message of the expected type.

    ``offset`` is the byte offset in the (uncompressed) body where decoding failed, when known.
    The API layer answers these with HTTP 400, as Prometheus does for unparsable bodies.
    """

    def __init__(self, message: str, offset: int | None = None) -> None:
        self.offset = offset
        super().__init__(message if offset is None else f"{message} (at byte offset {offset})")
