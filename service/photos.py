"""Photos the service desk keeps: of a request, an inspection item, a work order's
sign-off. Only image files are accepted, and each is served back as the image type its
name says, sandboxed, and only through views that check the user's permission."""

from __future__ import annotations

from django import forms
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404
from django.utils.translation import gettext

# Photo extensions and the content type each is served with. No SVG: a browser runs it.
PHOTO_TYPES = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "heic": "image/heic",
    "heif": "image/heif",
}
MAX_BYTES = 10 * 1024 * 1024


def _extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def clean_photo(photo):
    """A form field's cleaning: the upload, or a ValidationError next to the field."""
    if not photo or not hasattr(photo, "content_type"):
        return photo
    if photo.size > MAX_BYTES:
        raise forms.ValidationError(gettext("A photo may be at most 10 MB."))
    if _extension(photo.name) not in PHOTO_TYPES or not (
        photo.content_type or ""
    ).startswith("image/"):
        raise forms.ValidationError(
            gettext("Upload a photo (JPEG, PNG, GIF, WebP or HEIC).")
        )
    return photo


def photo_response(file: FieldFile) -> FileResponse:
    """The stored photo as an image, never as a page."""
    content_type = PHOTO_TYPES.get(_extension(file.name or ""))
    if not file or content_type is None:
        raise Http404
    response = FileResponse(file.open("rb"), content_type=content_type)
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["X-Content-Type-Options"] = "nosniff"
    return response


class MultiplePhotoInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class PhotosField(forms.FileField):
    """Several photos in one input (a phone's gallery selection)."""

    def __init__(self, *args, max_files: int = 10, **kwargs) -> None:
        kwargs.setdefault(
            "widget", MultiplePhotoInput(attrs={"accept": "image/*", "multiple": True})
        )
        self.max_files = max_files
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data] if data else []
        if len(files) > self.max_files:
            raise forms.ValidationError(
                gettext("At most %(count)s photos at a time.")
                % {"count": self.max_files}
            )
        if not files and self.required:
            raise forms.ValidationError(self.error_messages["required"], "required")
        return [clean_photo(super(PhotosField, self).clean(f, initial)) for f in files]
