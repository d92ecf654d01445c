"""A posted form read part by part, as the doubles need it: text fields and uploaded files in memory.

aiohttp's `request.post()` spools each upload to a temporary file and leaves closing it to the handler;
when the handler is cancelled mid-read (a client timing out on a busy machine) the files it had opened
are never closed, and a garbage-collected one fails whichever test runs then. Reading the parts here
opens no file at all."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import BodyPartReader, web


@dataclass(frozen=True, slots=True)
class Part:
    name: str
    filename: str | None  # set for an uploaded file
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")


async def read_form(request: web.Request) -> list[Part]:
    """Every field of a multipart or urlencoded form, in order (a name may repeat)."""
    if request.content_type != "multipart/form-data":
        return [Part(name, None, str(value).encode()) for name, value in (await request.post()).items()]
    parts: list[Part] = []
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        assert isinstance(part, BodyPartReader)
        parts.append(Part(part.name or "", part.filename, bytes(await part.read())))
    return parts
