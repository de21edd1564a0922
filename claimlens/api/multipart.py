"""multipart/form-data read incrementally from the request stream, file parts written straight into the blob store.

Each file part goes to a temp file in the blob store while it is hashed (python-multipart's streaming parser);
the size limit is enforced as the bytes arrive. The handler checks the files and links them to their content
address (`stored_files`, run in the thread pool); whatever is not committed is dropped by `StreamedForm.discard`.
The JSON API and the console's upload pages both read their forms this way (`read_upload_form`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from fastapi import HTTPException, Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from ..cases.errors import Invalid, TooLarge
from ..store.blobs import BlobStore, BlobWriter
from ..store.uploads import Ingested, Limits, finish

if TYPE_CHECKING:
    from ..store import Store

MAX_FIELDS = 50
MAX_FIELD_BYTES = 64 * 1024


class FileTooLarge(TooLarge):
    """A file part passed the size limit (the console says so in the viewer's language)."""

    def __init__(self, message: str, filename: str, limit: int):
        super().__init__(message, "file_too_large", name=filename, limit_bytes=limit)
        self.filename, self.limit = filename, limit


class TooManyFiles(TooLarge):
    def __init__(self, limit: int):
        super().__init__(f"more than {limit} files: at most {limit} per request", "too_many_files", limit=limit)
        self.limit = limit


@dataclass
class Upload:
    field: str
    filename: str
    writer: BlobWriter


@dataclass
class StreamedForm:
    fields: dict[str, list[str]] = field(default_factory=dict)
    files: list[Upload] = field(default_factory=list)
    writers: list[BlobWriter] = field(default_factory=list)

    def get(self, name: str, default=None):
        v = self.fields.get(name)
        return v[0] if v else default

    def discard(self) -> None:
        """Drop every temp file not committed to the store."""
        for w in self.writers:
            w.abort()


class _Reader:
    def __init__(self, blobs: BlobStore, max_file_bytes: int, max_files: int, file_fields: tuple[str, ...]):
        self.blobs, self.max_file_bytes, self.max_files, self.file_fields = blobs, max_file_bytes, max_files, file_fields
        self.form = StreamedForm()
        self.header_name = self.header_value = b""
        self.disposition = b""
        self.name = ""
        self.text: bytearray | None = None
        self.writer: BlobWriter | None = None
        self.ended = False

    def on_part_begin(self):
        self.disposition, self.text, self.writer = b"", None, None

    def on_header_field(self, data, start, end):
        self.header_name += data[start:end]

    def on_header_value(self, data, start, end):
        self.header_value += data[start:end]

    def on_header_end(self):
        if self.header_name.lower() == b"content-disposition":
            self.disposition = self.header_value
        self.header_name = self.header_value = b""

    def on_headers_finished(self):
        _, opts = parse_options_header(self.disposition)
        if b"name" not in opts:
            raise Invalid('a form part has no name (Content-Disposition: form-data; name="...")')
        self.name = _text(opts[b"name"], "field name")
        if b"filename" in opts:
            if self.name not in self.file_fields:
                raise Invalid(f"form field {self.name!r} does not take a file (files go in "
                              f"{', '.join(repr(f) for f in self.file_fields)})")
            if len(self.form.files) >= self.max_files:
                raise TooManyFiles(self.max_files)
            filename = _text(opts[b"filename"], "file name") or ""
            self.writer = self.blobs.writer(self.max_file_bytes, filename)
            self.form.writers.append(self.writer)
            self.form.files.append(Upload(self.name, filename, self.writer))
        else:
            if sum(len(v) for v in self.form.fields.values()) >= MAX_FIELDS:
                raise Invalid(f"more than {MAX_FIELDS} form fields")
            self.text = bytearray()

    def on_part_data(self, data, start, end):
        if self.writer is not None:
            try:
                self.writer.write(data[start:end])  # drops the file past the limit
            except TooLarge as exc:
                raise FileTooLarge(exc.message, self.writer.filename, self.max_file_bytes) from None
            return
        if len(self.text) + end - start > MAX_FIELD_BYTES:
            raise TooLarge(f"form field {self.name!r} is larger than {MAX_FIELD_BYTES // 1024} KB")
        self.text += data[start:end]

    def on_part_end(self):
        if self.text is not None:
            self.form.fields.setdefault(self.name, []).append(_text(bytes(self.text), f"field {self.name!r}"))
        self.text = self.writer = None

    def on_end(self):
        self.ended = True


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid(f"{what} is not UTF-8") from None


async def read_form(request: Request, blobs: BlobStore, *, max_file_bytes: int, max_files: int,
                    file_fields: tuple[str, ...] = ("files",), urlencoded: bool = False) -> StreamedForm:
    """Parse the body as it arrives. The caller must `discard()` the form when done (committed files stay).
    With urlencoded, an application/x-www-form-urlencoded body (a form without files) is read too."""
    ctype, opts = parse_options_header(request.headers.get("content-type", ""))
    if urlencoded and ctype == b"application/x-www-form-urlencoded":
        return await _read_urlencoded(request)
    if ctype != b"multipart/form-data":
        raise HTTPException(415, "send this request as multipart/form-data")
    if not opts.get(b"boundary"):
        raise Invalid("multipart/form-data without a boundary")
    r = _Reader(blobs, max_file_bytes, max_files, file_fields)
    parser = MultipartParser(opts[b"boundary"], {
        "on_part_begin": r.on_part_begin, "on_part_data": r.on_part_data, "on_part_end": r.on_part_end,
        "on_header_field": r.on_header_field, "on_header_value": r.on_header_value,
        "on_header_end": r.on_header_end, "on_headers_finished": r.on_headers_finished, "on_end": r.on_end})
    try:
        async for chunk in request.stream():
            if chunk:
                parser.write(chunk)
        parser.finalize()
        if not r.ended:
            raise Invalid("the multipart body ended early (no closing boundary)")
    except MultipartParseError as exc:
        r.form.discard()
        raise Invalid(f"malformed multipart body: {exc}") from None
    except BaseException:
        r.form.discard()
        raise
    # an empty file input (no name, no bytes) is no file
    for u in [u for u in r.form.files if not u.filename and u.writer.size == 0]:
        u.writer.abort()
        r.form.files.remove(u)
    return r.form


async def _read_urlencoded(request: Request) -> StreamedForm:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FIELD_BYTES:
            raise TooLarge(f"a form without files is larger than {MAX_FIELD_BYTES // 1024} KB")
    try:
        pairs = parse_qsl(_text(bytes(body), "form"), keep_blank_values=True, strict_parsing=False,
                          max_num_fields=MAX_FIELDS, errors="strict")
    except ValueError:
        raise Invalid(f"malformed form (at most {MAX_FIELDS} fields)") from None
    form = StreamedForm()
    for name, value in pairs:
        form.fields.setdefault(name, []).append(value)
    return form


async def read_upload_form(request: Request, store: "Store", urlencoded: bool = False) -> StreamedForm:
    """`read_form` with the store's limits: max upload bytes per file, max files, files in the field "files"."""
    st = store.settings
    return await read_form(request, store.blobs, max_file_bytes=st.max_upload_bytes, max_files=st.max_files,
                           urlencoded=urlencoded)


def stored_files(store: "Store", form: StreamedForm, allow_video: bool = True,
                 required: bool = True) -> list[Ingested]:
    """Check the received files and link them into the blob store (blocking: run it in the thread pool)."""
    if required and not form.files:
        raise Invalid("no file given (form field 'files')")
    st = store.settings
    limits = Limits(st.max_upload_bytes, st.max_pixels, st.max_video_seconds, allow_video)
    return [finish(u.writer, limits) for u in form.files]


def form_body(properties: dict, required: list[str]) -> dict:
    """OpenAPI requestBody for a multipart form read by `read_form` (the docs then show its fields)."""
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": required, "properties": properties}}}}}


FILES = {"type": "array", "items": {"type": "string", "format": "binary"}}
