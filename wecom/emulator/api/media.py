"""Temporary media: `media/upload` (image, voice, video or file, checked for type and size like WeCom) and
`media/get`; an upload lives three days (ApiBase.media_valid)."""

from wecom.emulator import limits as L
from wecom.emulator.api.base import ApiBase, require
from wecom.emulator.state import new_id
from wecom.emulator.web import Request, Response

JPEG_MAGIC, PNG_MAGIC = b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"


class MediaApi(ApiBase):
    def media_upload(self, request: Request, body: dict) -> dict:
        kind = request.query.get("type", "")
        require(kind in L.MEDIA_MAX_BYTES, "type must be image, voice, video or file", L.INVALID_TYPE)
        part = request.multipart().get("media")
        require(part is not None, "multipart field `media` is missing", L.MEDIA_DATA_MISSING)
        content = part.content
        if kind == "image":
            require(content.startswith((JPEG_MAGIC, PNG_MAGIC)), "images must be JPG or PNG", L.INVALID_MEDIA_TYPE)
        size_error = L.INVALID_IMAGE_SIZE if kind == "image" else L.INVALID_FILE_SIZE
        require(L.MEDIA_MIN_BYTES <= len(content) <= L.MEDIA_MAX_BYTES[kind], f"{len(content)} bytes", size_error)
        media_id = new_id("3", 64)
        now = int(self.state.now())
        content_type = "image/png" if content.startswith(PNG_MAGIC) else part.content_type
        if content.startswith(JPEG_MAGIC):
            content_type = "image/jpeg"
        with self.state.change() as data:
            data["media"][media_id] = {
                "type": kind,
                "filename": part.filename,
                "content_type": content_type,
                "size": len(content),
                "created_at": now,
            }
        self.state.media_put(media_id, content)
        return self._ok(type=kind, media_id=media_id, created_at=str(now))

    def media_get(self, request: Request, body: dict) -> dict | Response:
        media_id = request.query.get("media_id", "")
        entry = self.media_valid(media_id)
        content = self.state.media_read(media_id)
        require(entry is not None and content is not None, "", L.INVALID_MEDIA_ID)
        return Response(
            200,
            content,
            [
                ("Content-Type", entry["content_type"]),
                ("Content-Disposition", f'attachment; filename="{entry["filename"] or media_id}"'),
            ],
        )
