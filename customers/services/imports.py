"""Customer import from CSV and XLSX, and export of a filtered customer list.

An import goes upload → mapping and dry run (import_check) → queued (import_start)
→ run by Celery in batches (import_run) → done; a done import can be reverted. Every
customer it creates or changes gets an ImportChange row with the values before, which
is what makes the revert possible. Rows are written in bulk, a batch per transaction,
because a 100,000-row file must go through in about a minute.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from itertools import islice
from pathlib import PurePath
from typing import IO, Any

from django.contrib.contenttypes.models import ContentType
from django.contrib.postgres.expressions import ArraySubquery
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import OuterRef, ProtectedError, Q, QuerySet, RestrictedError
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook

from crm_site import spreadsheets, webhooks
from crm_site.audit import audit_record
from crm_site.models import AuditEntry, User
from customers.identity import (
    InvalidIdNumber,
    normalize_id_number,
    validate_resident_id,
)
from customers.models import (
    Customer,
    ExportRecord,
    ImportChange,
    ImportJob,
    Interaction,
    Tag,
)
from customers.phones import InvalidPhone, normalize_phone, try_normalize_phone
from customers.services.records import refresh_derived_fields

logger = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
# What the reader accepts: a 20 MB file holds some 300,000 rows.
IMPORT_LIMITS = spreadsheets.Limits(max_rows=300_000, max_columns=100)
EXTENSIONS = spreadsheets.EXTENSIONS
BATCH_SIZE = 1000
PREVIEW_ROWS = 200
EXPORT_MAX_ROWS = 100_000

# Customer fields an import can fill, in the order the mapping form offers them.
IMPORT_FIELDS: dict[str, Any] = {
    "name": gettext_lazy("Name"),
    "mobile": gettext_lazy("Mobile"),
    "email": gettext_lazy("E-mail"),
    "gender": gettext_lazy("Gender"),
    "source": gettext_lazy("Source channel"),
    "stage": gettext_lazy("Lifecycle stage"),
    "company": gettext_lazy("Company"),
    "address": gettext_lazy("Address"),
    "id_type": gettext_lazy("Identity document type"),
    "id_number": gettext_lazy("Document number"),
    "tags": gettext_lazy("Tags"),
    "notes": gettext_lazy("Notes"),
}
# Plain text fields written as given, with their column widths.
TEXT_LIMITS = {"name": 100, "company": 200, "address": 300, "email": 254}
CHOICE_FIELDS = ("gender", "source", "stage", "id_type")
# What an import writes on a customer row (tags live in their own table).
WRITTEN_FIELDS = [name for name in IMPORT_FIELDS if name not in ("mobile", "tags")]
DERIVED_FIELDS = ["name_pinyin", "name_initials", "id_number", "id_number_hash"]

# Header words, lower-cased with spaces and punctuation removed. Checked in this
# order, so "身份证号" is the number before "证件类型" can claim it and "公司名称"
# is a company before the generic "名称"/"name" can.
# fmt: off
HEADER_WORDS: list[tuple[str, tuple[str, ...]]] = [
    ("id_number", ("证件号码", "证件号", "身份证号码", "身份证号", "身份证", "idnumber", "idno", "documentnumber")),
    ("id_type", ("证件类型", "证件种类", "idtype", "documenttype")),
    ("mobile", ("手机号码", "手机号", "手机", "移动电话", "联系电话", "电话号码", "电话", "联系方式", "mobile", "phone", "cell", "tel")),
    ("email", ("电子邮箱", "电子邮件", "邮箱", "邮件", "email", "mail")),
    ("gender", ("性别", "gender", "sex")),
    ("source", ("客户来源", "来源渠道", "来源", "渠道", "source", "channel")),
    ("stage", ("客户阶段", "客户类型", "阶段", "状态", "stage", "lifecycle")),
    ("company", ("公司名称", "工作单位", "单位", "公司", "company", "employer", "organisation", "organization")),
    ("address", ("联系地址", "家庭住址", "住址", "地址", "address")),
    ("tags", ("标签", "tags", "tag")),
    ("notes", ("备注", "说明", "notes", "note", "remarks", "comment")),
    ("name", ("客户姓名", "客户名称", "姓名", "名字", "客户", "fullname", "name")),
]
# fmt: on

# Chinese words people type in spreadsheets besides our own labels and codes.
CHOICE_SYNONYMS: dict[str, dict[str, str]] = {
    "gender": {
        "男": "male", "男性": "male", "先生": "male", "m": "male",
        "女": "female", "女性": "female", "女士": "female", "f": "female",
        "未知": "", "不详": "",
    },
    "source": {
        "来访": "walk_in", "到访": "walk_in", "自然来访": "walk_in", "自然到访": "walk_in",
        "来电": "phone", "电话": "phone", "微信": "wechat", "网站": "web", "网络": "web",
        "线上": "web", "活动": "event", "老带新": "referral", "推荐": "referral",
        "转介绍": "referral", "渠道": "broker", "中介": "broker", "分销": "broker",
        "广告": "advertising", "其他": "other", "其它": "other",
    },
    "stage": {
        "意向": "prospect", "意向客户": "prospect", "潜在客户": "prospect",
        "认购": "buyer", "签约": "buyer", "成交": "buyer", "购房者": "buyer",
        "认购客户": "buyer", "签约客户": "buyer", "业主": "owner",
    },
    "id_type": {
        "身份证": "resident_id", "居民身份证": "resident_id", "护照": "passport",
        "港澳通行证": "hk_macau", "回乡证": "hk_macau", "港澳居民来往内地通行证": "hk_macau",
        "台胞证": "taiwan", "台湾居民来往大陆通行证": "taiwan",
        "营业执照": "business_license", "其他": "other", "其它": "other",
    },
}  # fmt: skip

TAG_SEPARATORS = re.compile(r"[,，;；、|]")
# Spreadsheet programs run a cell that starts with one of these as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ImportRefused(Exception):
    """A file, mapping or step the import cannot take; the message is for the user."""


# Importing is editing in bulk: it needs the right to edit customers as well as the
# right to import, and each row stays within the customers the importer may edit.
IMPORT_PERMISSIONS = ("customers.import_customer", "customers.change_customer")


def may_import(user: User | None) -> bool:
    return bool(user and user.is_active and user.has_perms(IMPORT_PERMISSIONS))


def _check_may_import(user: User | None) -> None:
    if not may_import(user):
        raise ImportRefused(_("You may not import customers."))


def out_of_scope_reason() -> str:
    """The one reason given for a number the importer may not import, whether it
    belongs to a customer outside their scope or (without the right to add
    customers) to nobody: the verdict must not tell which."""
    return _("This mobile number cannot be imported by you.")


class ExportRefused(Exception):
    """An export that cannot be made; the message is for the user."""


# Reading files ------------------------------------------------------------------


def _norm(text: str) -> str:
    """Lower case without spaces and punctuation, for matching headers and labels."""
    return "".join(
        ch
        for ch in unicodedata.normalize("NFKC", text).lower()
        if ch.isalnum() and ch != "_"
    )


def _cell_text(text: str) -> str:
    """Undo the apostrophe our own exports and rejected-row files put before formulas."""
    if len(text) > 1 and text[0] == "'" and text[1] in "=+-@":
        return text[1:]
    return text


@dataclass
class Table:
    """A file's header and an iterator over its data rows."""

    headers: list[str]
    # (row number as a spreadsheet program shows it, cells padded to the header)
    rows: Iterator[tuple[int, list[str]]]


@contextmanager
def _open_table(*, extension: str, stream: IO[bytes]) -> Iterator[Table]:
    """The file through the shared reader and its limits; its refusals become ours
    (they reach the caller from the line that breaks a limit)."""
    try:
        with spreadsheets.read_rows(
            stream, extension=extension, limits=IMPORT_LIMITS
        ) as raw_rows:
            _line, headers = next(raw_rows, (0, []))
            if not headers:
                raise ImportRefused(_("The file is empty."))
            headers = [_cell_text(h) for h in headers]
            _check_headers(headers)
            width = len(headers)

            def data_rows() -> Iterator[tuple[int, list[str]]]:
                for line, cells in raw_rows:
                    cells = [_cell_text(c) for c in cells[:width]]
                    if any(cells):
                        yield line, cells + [""] * (width - len(cells))

            yield Table(headers=headers, rows=data_rows())
    except spreadsheets.SpreadsheetRefused as exc:
        raise ImportRefused(str(exc)) from exc


def _check_headers(headers: list[str]) -> None:
    named = [h for h in headers if h]
    if sum(1 for h in named if try_normalize_phone(h)) > 0:
        raise ImportRefused(
            _(
                "The first row holds data, not column names. Add a row with the "
                "column names (姓名, 手机, …) at the top of the file."
            )
        )
    twice = [h for h, n in Counter(named).items() if n > 1]
    if twice:
        raise ImportRefused(
            _("The column “%(name)s” appears twice in the first row. Rename one.")
            % {"name": twice[0]}
        )


def _extension(name: str) -> str:
    return spreadsheets.extension_of(name)


@contextmanager
def _job_table(job: ImportJob) -> Iterator[Table]:
    with (
        job.file.open("rb") as stream,
        _open_table(extension=_extension(job.original_name), stream=stream) as table,
    ):
        yield table


# Upload and mapping ---------------------------------------------------------------


def import_upload(*, actor: User, uploaded_file: UploadedFile) -> ImportJob:
    """Check an uploaded file can be imported and keep it; nothing else changes.
    Only the first rows are read here (the shared reader's limits bound even that);
    the dry run in a worker reads the rest."""
    _check_may_import(actor)
    name = PurePath(uploaded_file.name or "").name
    extension = _extension(name)
    if extension not in EXTENSIONS:
        raise ImportRefused(_("Upload a CSV file (.csv) or an Excel workbook (.xlsx)."))
    if uploaded_file.size is not None and uploaded_file.size > MAX_UPLOAD_BYTES:
        raise ImportRefused(
            _("The file is larger than 20 MB. Split it into several files.")
        )
    uploaded_file.seek(0)
    data = uploaded_file.read()
    with _open_table(extension=extension, stream=io.BytesIO(data)) as table:
        if next(table.rows, None) is None:
            raise ImportRefused(_("The file has column names but no customer rows."))
    job = ImportJob(
        created_by=actor,
        original_name=name[:255],
        mapping=import_suggest_mapping(table.headers),
    )
    job.file.save(name, ContentFile(data), save=False)
    job.save()
    return job


def import_suggest_mapping(headers: Iterable[str]) -> dict[str, str]:
    """{header: customer field} for the headers we recognise; each field used once."""
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for header in headers:
        key = _norm(header)
        if not key:
            continue
        for field_name, words in HEADER_WORDS:
            if field_name in taken:
                continue
            if key in words or any(word in key for word in words if len(word) > 1):
                mapping[header] = field_name
                taken.add(field_name)
                break
    return mapping


def import_columns(
    *, job: ImportJob, samples: int = 3
) -> tuple[list[str], list[list[str]]]:
    """The file's column names and its first few rows, for the mapping form."""
    with _job_table(job) as table:
        rows = [cells for _line, cells in islice(table.rows, samples)]
    return table.headers, rows


def _clean_mapping(headers: list[str], mapping: dict[str, str]) -> dict[str, int]:
    """{customer field: column index}, refusing a mapping that cannot work."""
    columns: dict[str, int] = {}
    for header, field_name in mapping.items():
        if not field_name:
            continue
        if field_name not in IMPORT_FIELDS:
            raise ImportRefused(
                _("Unknown customer field: %(field)s") % {"field": field_name}
            )
        if header not in headers:
            raise ImportRefused(
                _("The file has no column “%(name)s”.") % {"name": header}
            )
        if field_name in columns:
            raise ImportRefused(
                _("Two columns are mapped to %(field)s.")
                % {"field": IMPORT_FIELDS[field_name]}
            )
        columns[field_name] = headers.index(header)
    if "mobile" not in columns:
        raise ImportRefused(
            _("Map a column to the mobile number: customers are matched by phone.")
        )
    return columns


# Row verdicts ---------------------------------------------------------------------

NEW, UPDATED, DUPLICATE, INVALID = "new", "updated", "duplicate", "invalid"


@dataclass
class Verdict:
    line: int
    cells: list[str]
    kind: str = NEW
    reasons: list[str] = field(default_factory=list)
    mobile: str = ""
    values: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    customer: Customer | None = None

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


@cache
def _choice_lookup(field_name: str) -> dict[str, str]:
    """Every way a choice is written (code, English and Chinese label) → its code."""
    lookup: dict[str, str] = {}
    for value, label in Customer._meta.get_field(field_name).choices:
        for language in ("en", "zh-hans"):
            with translation.override(language):
                lookup[_norm(str(label))] = value
        if value:
            lookup[_norm(value)] = value
    lookup.update({_norm(k): v for k, v in CHOICE_SYNONYMS.get(field_name, {}).items()})
    lookup.pop("", None)
    return lookup


def _parse(cells: list[str], columns: dict[str, int], verdict: Verdict) -> None:
    """Fill the verdict's values from the mapped cells; problems go to its reasons."""
    raw = {name: cells[index] for name, index in columns.items()}
    try:
        verdict.mobile = normalize_phone(raw["mobile"], mobile_only=True)
    except InvalidPhone as exc:
        verdict.reasons.append(
            _("Mobile “%(value)s”: %(error)s") % {"value": raw["mobile"], "error": exc}
            if raw["mobile"]
            else _("No mobile number.")
        )
    for name in ("name", "company", "address", "notes"):
        text = (
            " ".join(raw.get(name, "").split())
            if name != "notes"
            else raw.get(name, "")
        )
        if not text:
            continue
        limit = TEXT_LIMITS.get(name)
        if limit and len(text) > limit:
            verdict.reasons.append(
                _("%(field)s is longer than %(limit)s characters.")
                % {"field": IMPORT_FIELDS[name], "limit": limit}
            )
        verdict.values[name] = text
    email = raw.get("email", "")
    if email:
        try:
            validate_email(email)
        except ValidationError:
            verdict.reasons.append(
                _("E-mail “%(value)s” is not a valid address.") % {"value": email}
            )
        # The validator takes up to 320 characters; the column holds 254.
        if len(email) > TEXT_LIMITS["email"]:
            verdict.reasons.append(
                _("%(field)s is longer than %(limit)s characters.")
                % {"field": IMPORT_FIELDS["email"], "limit": TEXT_LIMITS["email"]}
            )
        verdict.values["email"] = email.lower()
    for name in CHOICE_FIELDS:
        text = raw.get(name, "")
        if not text:
            continue
        code = _choice_lookup(name).get(_norm(text))
        if code is None:
            verdict.reasons.append(
                _("%(field)s “%(value)s” is not one of the known values.")
                % {"field": IMPORT_FIELDS[name], "value": text}
            )
        elif code or name == "gender":
            verdict.values[name] = code
    number = normalize_id_number(raw.get("id_number", ""))
    if number:
        if len(number) > 40:
            verdict.reasons.append(_("The document number is too long."))
        verdict.values["id_number"] = number
    tags = [" ".join(t.split()) for t in TAG_SEPARATORS.split(raw.get("tags", ""))]
    verdict.tags = list(dict.fromkeys(t for t in tags if t))
    if any(len(t) > 50 for t in verdict.tags):
        verdict.reasons.append(_("A tag has at most 50 characters."))


def _check_document(verdict: Verdict) -> None:
    """A document number needs a type; a resident ID must pass its check digit."""
    number = verdict.values.get("id_number")
    if not number:
        return
    existing_type = verdict.customer.id_type if verdict.customer else ""
    id_type = verdict.values.get("id_type") or existing_type
    if not id_type:
        try:
            validate_resident_id(number)
        except InvalidIdNumber:
            verdict.reasons.append(
                _("Give the type of document for the document number.")
            )
            return
        # An 18-character number with a correct check digit is a resident ID.
        verdict.values["id_type"] = Customer.IdType.RESIDENT_ID
        return
    if id_type == Customer.IdType.RESIDENT_ID:
        try:
            validate_resident_id(number)
        except InvalidIdNumber as exc:
            verdict.reasons.append(str(exc))


def _classify(
    batch: list[tuple[int, list[str]]],
    *,
    columns: dict[str, int],
    seen: dict[str, int],
    lock: bool,
    actor: User,
) -> list[Verdict]:
    """Verdicts for one batch of rows. `seen` maps each accepted mobile to its row, so
    a later row with the same number is a duplicate even in a later batch.

    A row may update only a customer the actor may edit (the customer page's rule,
    Customer.objects.editable_by) and create one only with the right to add
    customers; any other row gets out_of_scope_reason(), the same words for both
    cases, and nothing the file did not say."""
    verdicts = []
    for line, cells in batch:
        verdict = Verdict(line=line, cells=cells)
        _parse(cells, columns, verdict)
        verdicts.append(verdict)
    mobiles = {v.mobile for v in verdicts if v.mobile}
    existing_qs = Customer.objects.live().filter(mobile__in=mobiles)
    if lock:
        # Two desks may edit these customers while the import runs.
        existing_qs = existing_qs.select_for_update(of=("self",))
    existing = {c.mobile: c for c in existing_qs}
    editable = _editable_ids(actor, [c.pk for c in existing.values()])
    may_add = actor.has_perm("customers.add_customer")
    for verdict in verdicts:
        if verdict.mobile and verdict.mobile in seen:
            verdict.kind = DUPLICATE
            verdict.reasons = [
                _("Same mobile as row %(row)s.") % {"row": seen[verdict.mobile]}
            ]
            continue
        match = existing.get(verdict.mobile)
        if verdict.mobile and (match.pk not in editable if match else not may_add):
            # Only what the file alone says, then the one reason: checks that look
            # at the matched customer (its document type) would tell it exists.
            verdict.kind = INVALID
            verdict.reasons.append(out_of_scope_reason())
            continue
        verdict.customer = match
        if (
            verdict.customer is None
            and verdict.mobile
            and not verdict.values.get("name")
        ):
            verdict.reasons.append(_("A new customer needs a name."))
        _check_document(verdict)
        if verdict.reasons:
            verdict.kind = INVALID
            continue
        verdict.kind = UPDATED if verdict.customer is not None else NEW
        seen[verdict.mobile] = verdict.line
    return verdicts


def _editable_ids(actor: User, ids: list[int]) -> set[int]:
    """Which of these customers the actor may edit now (one query per batch)."""
    if not ids:
        return set()
    return set(
        Customer.objects.editable_by(actor)
        .filter(pk__in=ids)
        .values_list("pk", flat=True)
    )


def _batches(
    rows: Iterator[tuple[int, list[str]]],
) -> Iterator[list[tuple[int, list[str]]]]:
    while batch := list(islice(rows, BATCH_SIZE)):
        yield batch


def _preview_row(verdict: Verdict) -> dict[str, Any]:
    return {
        "row": verdict.line,
        "verdict": verdict.kind,
        # Only what the file says: the existing customer may be outside the user's scope.
        "name": verdict.values.get("name", ""),
        "mobile": verdict.mobile or "",
        "reason": verdict.reason,
    }


CHECKABLE = (
    ImportJob.Status.UPLOADED,
    ImportJob.Status.CHECKING,
    ImportJob.Status.CHECKED,
)


def import_check_queue(
    *, job: ImportJob, actor: User, mapping: dict[str, str]
) -> ImportJob:
    """Keep the mapping and queue the dry run: a big file takes longer to read than a
    request may last, so a worker reads it and the page shows its progress."""
    from customers import tasks

    _check_may_import(actor)
    values = {
        "mapping": {h: f for h, f in mapping.items() if f},
        "status": ImportJob.Status.CHECKING,
        "total_rows": 0,
        "processed_rows": 0,
        "created_count": 0,
        "updated_count": 0,
        "duplicate_count": 0,
        "invalid_count": 0,
        "preview": [],
        "error": "",
        # When the dry run was set going: the sweep (import_sweep) tells one whose
        # worker died by it.
        "started_at": timezone.now(),
    }
    with transaction.atomic():
        changed = ImportJob.objects.filter(pk=job.pk, status__in=CHECKABLE).update(
            **values
        )
        if not changed:
            raise ImportRefused(_("This import has been started already."))
        tasks.import_check.delay_on_commit(job.pk)
    for name, value in values.items():
        setattr(job, name, value)
    return job


def import_check_run(*, job_id: int) -> None:
    """The queued dry run. Running it twice gives the same verdicts; a refusal (the
    file breaks a limit, the mapping no longer fits) goes back to the mapping page
    as the job's error."""
    job = ImportJob.objects.select_related("created_by").filter(pk=job_id).first()
    if job is None or job.status != ImportJob.Status.CHECKING:
        return
    try:
        import_check(job=job, mapping=job.mapping, progress=True)
    except ImportRefused as exc:
        error = str(exc)
    except Exception:
        logger.exception("dry run of import %s failed", job_id)
        error = _("The dry run stopped with an error. Try again.")
    else:
        return
    ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.CHECKING).update(
        status=ImportJob.Status.UPLOADED, error=error[:2000]
    )


def import_check(
    *, job: ImportJob, mapping: dict[str, str], progress: bool = False
) -> ImportJob:
    """The dry run: a verdict for every row, counts and a preview; no customer changes.
    Verdicts are the importer's (job.created_by), as the run's will be."""
    if job.status not in CHECKABLE:
        raise ImportRefused(_("This import has been started already."))
    actor = job.created_by
    _check_may_import(actor)
    counts: Counter[str] = Counter()
    problems: list[dict[str, Any]] = []
    accepted: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    total = 0
    with _job_table(job) as table:
        columns = _clean_mapping(table.headers, mapping)
        for batch in _batches(table.rows):
            verdicts = _classify(
                batch, columns=columns, seen=seen, lock=False, actor=actor
            )
            for verdict in verdicts:
                total += 1
                counts[verdict.kind] += 1
                # Show every kind of problem first: they are what the user must fix.
                bucket = accepted if verdict.kind in (NEW, UPDATED) else problems
                if len(bucket) < PREVIEW_ROWS:
                    bucket.append(_preview_row(verdict))
            if progress:
                ImportJob.objects.filter(
                    pk=job.pk, status=ImportJob.Status.CHECKING
                ).update(
                    processed_rows=total,
                    created_count=counts[NEW],
                    updated_count=counts[UPDATED],
                    duplicate_count=counts[DUPLICATE],
                    invalid_count=counts[INVALID],
                )
    if total == 0:
        raise ImportRefused(_("The file has column names but no customer rows."))
    preview = problems + accepted[: max(0, PREVIEW_ROWS - len(problems))]
    preview.sort(key=lambda row: row["row"])
    values = {
        "mapping": {h: f for h, f in mapping.items() if f},
        "status": ImportJob.Status.CHECKED,
        "total_rows": total,
        "processed_rows": 0,
        "created_count": counts[NEW],
        "updated_count": counts[UPDATED],
        "duplicate_count": counts[DUPLICATE],
        "invalid_count": counts[INVALID],
        "preview": preview,
        "error": "",
    }
    # Conditional, so a dry run that races the start button cannot undo the start.
    changed = ImportJob.objects.filter(pk=job.pk, status__in=CHECKABLE).update(**values)
    if not changed:
        raise ImportRefused(_("This import has been started already."))
    for name, value in values.items():
        setattr(job, name, value)
    return job


# Imports whose file has not been run (a dry run may be under way): all it holds is
# still to come.
NOT_RUN = (
    ImportJob.Status.UPLOADED,
    ImportJob.Status.CHECKING,
    ImportJob.Status.CHECKED,
    ImportJob.Status.QUEUED,
)


def import_file_mentions(job: ImportJob, mentions: Callable[[str], bool]) -> bool:
    """Whether a cell of the job's kept file holds what ``mentions`` recognises (a
    person's number, for an erasure); each cell is read on its own, so nothing is
    found across two cells. A kept file that can no longer be read counts as
    mentioning: nobody can say it does not."""
    if not job.file:
        return False
    try:
        with _job_table(job) as table:
            return any(
                mentions(cell) for _line, cells in table.rows for cell in cells if cell
            )
    except (ImportRefused, OSError):
        return True


def import_discard_not_run(*, job: ImportJob, at: datetime) -> None:
    """Take back an import that has not run: it fails with the reason and its file
    and preview go (the caller deletes the stored file once it has committed). A
    queued run then finds nothing to claim, a dry run nothing to write."""
    ImportJob.objects.filter(pk=job.pk, status__in=NOT_RUN).update(
        status=ImportJob.Status.FAILED,
        file="",
        preview=[],
        finished_at=at,
        error=_(
            "This import was taken back before it ran: its file named a customer "
            "whose personal information was erased on request. Upload the file "
            "again without them."
        ),
    )


# Running --------------------------------------------------------------------------


def import_start(*, job: ImportJob, actor: User) -> ImportJob:
    """Queue a checked import; the worker is told only once the queueing is committed."""
    from customers import tasks

    _check_may_import(actor)
    if job.status == ImportJob.Status.CHECKED and not (
        job.created_count or job.updated_count
    ):
        raise ImportRefused(
            _("Nothing to import: every row is a duplicate or invalid.")
        )
    with transaction.atomic():
        # started_at says when it was queued until a worker claims it (import_run
        # sets it again): the sweep (import_sweep) tells a lost task by it.
        queued = ImportJob.objects.filter(
            pk=job.pk, status=ImportJob.Status.CHECKED
        ).update(status=ImportJob.Status.QUEUED, started_at=timezone.now())
        if not queued:
            raise ImportRefused(
                _("Only a checked import that has not been started can be started.")
            )
        tasks.import_run.delay_on_commit(job.pk)
    job.status = ImportJob.Status.QUEUED
    logger.info("import %s queued by %s", job.pk, actor.pk)
    return job


def _audit_changes(values: dict[str, Any], before: dict[str, Any]) -> dict[str, dict]:
    return {
        name: {"old": str(before.get(name, "")), "new": str(value)}
        for name, value in values.items()
        if name in before
    }


def _tag_ids(names: Iterable[str]) -> dict[str, int]:
    wanted = set(names)
    if not wanted:
        return {}
    Tag.objects.bulk_create([Tag(name=n) for n in wanted], ignore_conflicts=True)
    return dict(Tag.objects.filter(name__in=wanted).values_list("name", "pk"))


def _bulk_update(customers: list[Customer], fields: list[str]) -> None:
    """One UPDATE … FROM (VALUES …) for a batch. Django's bulk_update builds a CASE
    per field and row, which costs more than the whole rest of an import."""
    if not customers:
        return
    meta = Customer._meta
    model_fields = [meta.get_field(name) for name in dict.fromkeys(fields)]
    columns = [f.column for f in model_fields]
    qn = connection.ops.quote_name
    row_sql = "(" + ", ".join(["%s"] * (len(columns) + 1)) + ")"
    params: list[Any] = []
    for customer in customers:
        params.append(customer.pk)
        params += [
            f.get_db_prep_save(getattr(customer, f.attname), connection)
            for f in model_fields
        ]
    assignments = ", ".join(f"{qn(c)} = v.{qn(c)}" for c in columns)
    names = ", ".join(qn(c) for c in ["id", *columns])
    sql = (
        f"UPDATE {qn(meta.db_table)} AS c SET {assignments} "
        f"FROM (VALUES {', '.join([row_sql] * len(customers))}) AS v({names}) "
        f"WHERE c.id = v.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _insert(
    model: type[Any], rows: list[dict[str, Any]], *, ignore_conflicts: bool = False
) -> None:
    """INSERT … SELECT FROM unnest(one array per column): a single statement with a
    parameter per column, several times faster than bulk_create for side rows."""
    if not rows:
        return
    fields = [model._meta.get_field(name) for name in rows[0]]
    qn = connection.ops.quote_name
    arrays = []
    for model_field in fields:
        values = [row[model_field.name] for row in rows]
        if model_field.get_internal_type() == "JSONField":
            values = [json.dumps(value, ensure_ascii=False) for value in values]
        arrays.append(values)
    casts = ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
    sql = (
        f"INSERT INTO {qn(model._meta.db_table)} "
        f"({', '.join(qn(f.column) for f in fields)}) SELECT * FROM unnest({casts})"
    )
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)


def _apply(job: ImportJob, verdicts: list[Verdict]) -> None:
    """Write one batch: bulk inserts and updates, their ImportChange and audit rows."""
    now = timezone.now()
    actor_id = job.created_by_id
    # As on the new-customer form: a consultant who brings a customer in owns it, so
    # the customers they import stay within what they may edit.
    owner = job.created_by if job.created_by.has_perm("customers.scope_own") else None
    tag_ids = _tag_ids(t for v in verdicts if v.kind in (NEW, UPDATED) for t in v.tags)
    content_type_id = ContentType.objects.get_for_model(Customer).pk
    changes: list[dict[str, Any]] = []
    audits: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []

    def record(
        customer: Customer, action: str, before: dict, audit: dict, after: dict
    ) -> None:
        changes.append(
            {
                "job": job.pk,
                "customer": customer.pk,
                "action": action,
                "before": before,
                "after": after,
            }
        )
        audits.append(
            {
                "actor": actor_id,
                "action": (
                    AuditEntry.Action.CREATE
                    if action == ImportChange.Action.CREATED
                    else AuditEntry.Action.UPDATE
                ),
                "content_type": content_type_id,
                "object_id": customer.pk,
                "object_repr": customer.name[:200],
                "changes": audit,
                "created_at": now,
            }
        )

    created: list[tuple[Customer, Verdict]] = []
    for verdict in verdicts:
        if verdict.kind != NEW:
            continue
        # A file without a source says nothing about where the customer came from.
        values = {"source": Customer.Source.OTHER, **verdict.values}
        customer = Customer(
            mobile=verdict.mobile,
            created_by_id=actor_id,
            created_at=now,
            assigned_consultant=owner,
            **values,
        )
        refresh_derived_fields(customer)
        created.append((customer, verdict))
    Customer.objects.bulk_create([c for c, _v in created])
    webhooks.emit_many(
        "customer.created", data=[{"customer_id": c.pk} for c, _v in created]
    )
    for customer, verdict in created:
        new_values = {"mobile": customer.mobile, "source": customer.source}
        new_values.update(verdict.values)
        if owner is not None:
            new_values["assigned_consultant"] = str(owner)
        if verdict.tags:
            new_values["tags"] = ", ".join(verdict.tags)
        record(
            customer,
            ImportChange.Action.CREATED,
            {},
            _audit_changes(new_values, dict.fromkeys(new_values, "")),
            {},
        )
        links += [{"customer": customer.pk, "tag": tag_ids[t]} for t in verdict.tags]

    updated = [v for v in verdicts if v.kind == UPDATED and v.customer is not None]
    current_tags: dict[int, dict[int, str]] = {}
    for customer_id, tag_id, tag_name in Customer.tags.through.objects.filter(
        customer_id__in=[v.customer.pk for v in updated if v.tags]
    ).values_list("customer_id", "tag_id", "tag__name"):
        current_tags.setdefault(customer_id, {})[tag_id] = tag_name
    changed_customers: list[Customer] = []
    for verdict in updated:
        customer = verdict.customer
        before: dict[str, Any] = {}
        for name, value in verdict.values.items():
            if getattr(customer, name) != value:
                before[name] = getattr(customer, name)
                setattr(customer, name, value)
        audit = _audit_changes({n: getattr(customer, n) for n in before}, before)
        had = current_tags.get(customer.pk, {})
        added = [t for t in verdict.tags if tag_ids[t] not in had]
        if added:
            # Imported tags are added to the customer's own, never replace them. The
            # revert takes off only the links listed in "tags_added", so tags a
            # colleague adds in the meantime stay.
            before["tags"] = sorted(had)
            before["tags_added"] = sorted(tag_ids[t] for t in added)
            links += [{"customer": customer.pk, "tag": tag_ids[t]} for t in added]
            audit["tags"] = {
                "old": ", ".join(sorted(had.values())),
                "new": ", ".join(sorted([*had.values(), *added])),
            }
        if not before:
            continue
        refresh_derived_fields(customer)
        customer.updated_at = now
        changed_customers.append(customer)
        # What the import wrote, as stored: a revert restores only these.
        after = {n: getattr(customer, n) for n in before if n in WRITTEN_FIELDS}
        record(customer, ImportChange.Action.UPDATED, before, audit, after)
    _bulk_update(changed_customers, [*WRITTEN_FIELDS, *DERIVED_FIELDS, "updated_at"])
    webhooks.emit_many(
        "customer.updated", data=[{"customer_id": c.pk} for c in changed_customers]
    )
    _insert(Customer.tags.through, links, ignore_conflicts=True)
    _insert(ImportChange, changes)
    _insert(AuditEntry, audits)


def _safe_cell(value: str) -> str:
    """Keep a spreadsheet from running a cell as a formula."""
    if value and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _rejected_csv(headers: list[str], rejected: list[tuple[list[str], str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_safe_cell(h) for h in headers] + [_("Reason")])
    for cells, reason in rejected:
        writer.writerow([_safe_cell(c) for c in cells] + [reason])
    # UTF-8 with a BOM: the only way Excel opens a UTF-8 CSV without garbling Chinese.
    return out.getvalue().encode("utf-8-sig")


def import_run(*, job_id: int) -> None:
    """Run a queued import. Claimed with a conditional UPDATE, so a second delivery of
    the task finds nothing to do. Each batch is one transaction: a failure keeps the
    batches before it (they can be reverted) and rolls back the failing one."""
    claimed = ImportJob.objects.filter(
        pk=job_id, status=ImportJob.Status.QUEUED
    ).update(
        status=ImportJob.Status.RUNNING,
        started_at=timezone.now(),
        processed_rows=0,
        created_count=0,
        updated_count=0,
        duplicate_count=0,
        invalid_count=0,
        error="",
    )
    if not claimed:
        return
    job = ImportJob.objects.select_related("created_by").get(pk=job_id)
    if not may_import(job.created_by):
        # The importer's role changed since the dry run.
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.FAILED,
            error=_(
                "The person who started this import may no longer import customers."
            ),
            finished_at=timezone.now(),
        )
        return
    counts: Counter[str] = Counter()
    rejected: list[tuple[list[str], str]] = []
    processed = 0
    try:
        with _job_table(job) as table:
            columns = _clean_mapping(table.headers, job.mapping)
            seen: dict[str, int] = {}
            for batch in _batches(table.rows):
                with transaction.atomic():
                    # The scope is checked again on the locked rows: owners may have
                    # changed since the dry run.
                    verdicts = _classify(
                        batch,
                        columns=columns,
                        seen=seen,
                        lock=True,
                        actor=job.created_by,
                    )
                    _apply(job, verdicts)
                    processed += len(batch)
                    counts.update(v.kind for v in verdicts)
                    ImportJob.objects.filter(pk=job.pk).update(
                        processed_rows=processed,
                        total_rows=max(job.total_rows, processed),
                        created_count=counts[NEW],
                        updated_count=counts[UPDATED],
                        duplicate_count=counts[DUPLICATE],
                        invalid_count=counts[INVALID],
                    )
                rejected += [
                    (v.cells, v.reason)
                    for v in verdicts
                    if v.kind in (DUPLICATE, INVALID)
                ]
            headers = table.headers
        if rejected:
            job.rejected_file.save(
                f"{PurePath(job.original_name).stem}-rejected.csv",
                ContentFile(_rejected_csv(headers, rejected)),
                save=False,
            )
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.DONE,
            rejected_file=job.rejected_file.name or "",
            finished_at=timezone.now(),
        )
    except Exception as exc:
        # Any failure must leave the job FAILED with its reason, never stuck RUNNING.
        logger.exception("import %s failed", job_id)
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.FAILED,
            error=(str(exc) or exc.__class__.__name__)[:2000],
            finished_at=timezone.now(),
        )
        _undo_failed_run(job)


def _undo_failed_run(job: ImportJob) -> None:
    """All or nothing: the batches a failed run committed (each in its own
    transaction, so that a large file never holds its locks for minutes) are
    reverted at once, as its importer would revert them; the job then says
    Reverted, with the failure's reason."""
    if not job.changes.exists():
        return
    try:
        with transaction.atomic():
            import_revert(job=job, actor=job.created_by)
    except Exception:
        logger.exception("import %s: undoing the failed run failed", job.pk)


# The sweep ------------------------------------------------------------------------

# A job still running this long past its task's hard time limit lost its worker: the
# limit kills the task, if nothing (SIGKILL, out of memory, a restart) did before.
SWEEP_MARGIN = timedelta(minutes=1)
# A queued import or dry run no worker has taken this long after it was queued has
# probably lost its message (the broker was down, the publish breaker was open): it
# is queued again, at most once per this interval. A message that was only late
# finds the job taken (import_run claims it; a dry run that is done is not rerun).
REQUEUE_AFTER = timedelta(minutes=5)
# How long the sweep keeps undoing a failed run whose undo was interrupted.
UNDO_RETRY_FOR = timedelta(days=1)


@dataclass
class SweepResult:
    failed: int = 0
    requeued: int = 0
    checks_requeued: int = 0
    checks_stopped: int = 0
    undone: int = 0


def _hard_time_limit(task: Any) -> timedelta:
    from crm_site.celery import app

    return timedelta(seconds=task.time_limit or app.conf.task_time_limit)


def _stale(before: datetime) -> Q:
    # No time: queued before the time was recorded, so long ago.
    return Q(started_at__isnull=True) | Q(started_at__lt=before)


def import_sweep(*, now: datetime | None = None) -> SweepResult:
    """Imports and dry runs a lost task or a dead worker left behind. Each job is
    claimed with a conditional UPDATE, so overlapping sweeps act on it once:

    - an import still running past its task's hard time limit was killed mid-run:
      it fails with the reason and the batches it committed are reverted, as for a
      run that failed (all or nothing);
    - an import queued a while ago and never taken is queued again;
    - a dry run never taken is queued again; one a dead worker left half done goes
      back to the mapping page with an error, to be started again."""
    from customers import tasks

    now = now or timezone.now()
    result = SweepResult()
    dead = now - _hard_time_limit(tasks.import_run) - SWEEP_MARGIN
    for pk in ImportJob.objects.filter(
        status=ImportJob.Status.RUNNING, started_at__lt=dead
    ).values_list("pk", flat=True):
        claimed = ImportJob.objects.filter(
            pk=pk, status=ImportJob.Status.RUNNING, started_at__lt=dead
        ).update(
            status=ImportJob.Status.FAILED,
            error=_(
                "The import was interrupted before it finished: its worker stopped."
            ),
            finished_at=now,
        )
        if claimed:
            logger.warning("import %s: its worker died mid-run; undoing it", pk)
            _undo_failed_run(ImportJob.objects.select_related("created_by").get(pk=pk))
            result.failed += 1
    # A failed run whose undo was itself interrupted (a time limit, a lock, a dead
    # worker) still holds its batches: undone again, for a day (import_revert locks
    # the job: two sweeps undo it once; one its importer may no longer revert is
    # left to an administrator after that).
    for pk in (
        ImportJob.objects.filter(
            status=ImportJob.Status.FAILED,
            finished_at__gte=now - UNDO_RETRY_FOR,
            finished_at__lt=now - REQUEUE_AFTER,
            changes__isnull=False,
        )
        .values_list("pk", flat=True)
        .distinct()
    ):
        _undo_failed_run(ImportJob.objects.select_related("created_by").get(pk=pk))
        result.undone += 1
    # The sweep runs outside any transaction: each claim below is committed before
    # its message is published, so delay() here, not delay_on_commit().
    late = now - REQUEUE_AFTER
    for pk in ImportJob.objects.filter(
        _stale(late), status=ImportJob.Status.QUEUED
    ).values_list("pk", flat=True):
        if ImportJob.objects.filter(
            _stale(late), pk=pk, status=ImportJob.Status.QUEUED
        ).update(started_at=now):
            tasks.import_run.delay(pk)
            result.requeued += 1
    # A dry run writes its progress after every batch: none at all means no worker
    # took it; some, and past the hard time limit, means its worker died.
    for pk in ImportJob.objects.filter(
        _stale(late), status=ImportJob.Status.CHECKING, processed_rows=0
    ).values_list("pk", flat=True):
        if ImportJob.objects.filter(
            _stale(late), pk=pk, status=ImportJob.Status.CHECKING, processed_rows=0
        ).update(started_at=now):
            tasks.import_check.delay(pk)
            result.checks_requeued += 1
    result.checks_stopped = ImportJob.objects.filter(
        _stale(now - _hard_time_limit(tasks.import_check) - SWEEP_MARGIN),
        status=ImportJob.Status.CHECKING,
        processed_rows__gt=0,
    ).update(
        status=ImportJob.Status.UPLOADED,
        error=_("The dry run stopped with an error. Try again."),
    )
    return result


# Revert ---------------------------------------------------------------------------


@dataclass
class RevertResult:
    deleted: int = 0
    restored: int = 0
    # Created customers kept because they have since been used (timeline, deals, …).
    kept: list[Customer] = field(default_factory=list)
    # Customers left as they are because the reverting user may not edit them now
    # (not named: they may be outside what the user may see).
    out_of_scope: int = 0
    # Fields changed since the import (a consultant's correction, a later import):
    # kept, the revert restores only what the import wrote.
    corrections_kept: int = 0


def _chunks(items: list[int], size: int = BATCH_SIZE) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _delete_unused(ids: list[int]) -> set[int]:
    """Delete these customers where nothing refers to them; return the ids kept."""
    kept: set[int] = set()
    for chunk in _chunks(ids):
        try:
            with transaction.atomic():
                Customer.objects.filter(pk__in=chunk).delete()
        except (ProtectedError, RestrictedError):
            # Someone in another app uses some of them: find which, one by one.
            for pk in chunk:
                try:
                    with transaction.atomic():
                        Customer.objects.filter(pk=pk).delete()
                except (ProtectedError, RestrictedError):
                    kept.add(pk)
    return kept


@dataclass
class _Link:
    pk: int
    name: str


def _tag_links(customer_ids: list[int]) -> dict[int, dict[int, _Link]]:
    """{customer: {tag: its link row and name}} for these customers, one query."""
    links: dict[int, dict[int, _Link]] = {}
    for pk, customer_id, tag_id, name in Customer.tags.through.objects.filter(
        customer_id__in=customer_ids
    ).values_list("pk", "customer_id", "tag_id", "tag__name"):
        links.setdefault(customer_id, {})[tag_id] = _Link(pk, name)
    return links


def _untag(
    customer_id: int,
    before: dict[str, Any],
    links: dict[int, _Link],
    tag_names: dict[int, str],
    unlink: list[int],
    relink: list[tuple[int, int]],
) -> dict[str, str] | None:
    """What a revert does to one customer's tags: the links to take off go to
    ``unlink``, those to put back to ``relink``; returns the audit's old and new tag
    names, or None when the tags stay as they are.

    An import records the tags it added ("tags_added"); only those come off, so a
    tag a colleague added since stays. An import recorded before that kept only the
    tags the customer had ("tags"): those still existing (``tag_names``) are put
    back and the others taken off, as reverts did then."""
    if "tags_added" in before:
        gone = [t for t in before["tags_added"] if t in links]
        back: list[int] = []
    elif "tags" in before:
        gone = [t for t in links if t not in set(before["tags"])]
        back = [t for t in before["tags"] if t not in links and t in tag_names]
    else:
        return None
    if not gone and not back:
        return None
    unlink += [links[t].pk for t in gone]
    relink += [(customer_id, t) for t in back]
    old = sorted(link.name for link in links.values())
    new = sorted(
        [link.name for t, link in links.items() if t not in gone]
        + [tag_names[t] for t in back]
    )
    return {"old": ", ".join(old), "new": ", ".join(new)}


@transaction.atomic
def import_revert(*, job: ImportJob, actor: User) -> RevertResult:
    """Undo an import: remove the customers it created that nobody has used since and
    put back the values it overwrote, where the field still holds what the import
    wrote: a value changed since (a correction) is kept and counted. A created
    customer that has since got a timeline entry or is referred to elsewhere is kept
    and reported. Only customers the actor
    may edit now are touched (a created one nobody owns counts as theirs: the import
    made it); the others are counted, not named."""
    _check_may_import(actor)
    locked = ImportJob.objects.select_for_update().get(pk=job.pk)
    if locked.status not in (ImportJob.Status.DONE, ImportJob.Status.FAILED):
        raise ImportRefused(_("Only a finished import can be reverted."))
    now = timezone.now()
    content_type = ContentType.objects.get_for_model(Customer)
    result = RevertResult()
    created_ids = list(
        locked.changes.filter(
            action=ImportChange.Action.CREATED, customer__isnull=False
        ).values_list("customer_id", flat=True)
    )
    created_here = locked.changes.filter(action=ImportChange.Action.CREATED).values(
        "customer_id"
    )
    # Timeline entries or a later import's changes mean someone works with them now.
    used = set(
        Interaction.objects.filter(customer_id__in=created_here)
        .values_list("customer_id", flat=True)
        .distinct()
    ) | set(
        ImportChange.objects.filter(customer_id__in=created_here)
        .exclude(job=locked)
        .values_list("customer_id", flat=True)
    )
    in_scope = set(
        Customer.objects.filter(pk__in=created_here)
        .filter(
            Q(assigned_consultant__isnull=True)
            | Q(pk__in=Customer.objects.editable_by(actor).values("pk"))
        )
        .values_list("pk", flat=True)
    )
    result.out_of_scope = sum(1 for pk in created_ids if pk not in in_scope)
    created_ids = [pk for pk in created_ids if pk in in_scope]
    used &= in_scope
    candidates = [pk for pk in created_ids if pk not in used]
    names = dict(Customer.objects.filter(pk__in=created_here).values_list("pk", "name"))
    kept_ids = used | _delete_unused(candidates)
    deleted = [pk for pk in candidates if pk not in kept_ids]
    result.deleted = len(deleted)
    _insert(
        AuditEntry,
        [
            {
                "actor": actor.pk,
                "action": AuditEntry.Action.DELETE,
                "content_type": content_type.pk,
                "object_id": pk,
                "object_repr": names.get(pk, str(pk))[:200],
                "changes": {},
                "created_at": now,
            }
            for pk in deleted
        ],
    )
    result.kept = list(Customer.objects.filter(pk__in=kept_ids).order_by("pk"))

    through = Customer.tags.through
    updates = locked.changes.filter(
        action=ImportChange.Action.UPDATED, customer__isnull=False
    ).order_by("pk")
    change_ids = list(updates.values_list("pk", flat=True))
    for chunk in _chunks(change_ids):
        rows = list(ImportChange.objects.filter(pk__in=chunk))
        customers = Customer.objects.select_for_update(of=("self",)).in_bulk(
            [r.customer_id for r in rows]
        )
        editable = _editable_ids(actor, list(customers))
        result.out_of_scope += sum(1 for pk in customers if pk not in editable)
        customers = {pk: c for pk, c in customers.items() if pk in editable}
        links = _tag_links(list(customers))
        # Only reverts of imports recorded before "tags_added" put tags back.
        tag_names = dict(
            Tag.objects.filter(
                pk__in={
                    t
                    for r in rows
                    if "tags_added" not in r.before
                    for t in r.before.get("tags", ())
                }
            ).values_list("pk", "name")
        )
        unlink: list[int] = []
        relink: list[tuple[int, int]] = []
        restored: list[Customer] = []
        audits: list[AuditEntry] = []
        for row in rows:
            customer = customers.get(row.customer_id)
            if customer is None:
                continue
            values = {k: v for k, v in row.before.items() if k in WRITTEN_FIELDS}
            changed_since = {
                name
                for name in values
                if name in row.after and getattr(customer, name) != row.after[name]
            }
            result.corrections_kept += len(changed_since)
            values = {k: v for k, v in values.items() if k not in changed_since}
            audit = {
                name: {"old": str(getattr(customer, name)), "new": str(value)}
                for name, value in values.items()
            }
            for name, value in values.items():
                setattr(customer, name, value)
            tags = _untag(
                customer.pk,
                row.before,
                links.get(customer.pk, {}),
                tag_names,
                unlink,
                relink,
            )
            if tags:
                audit["tags"] = tags
            if not audit:
                continue
            refresh_derived_fields(customer)
            customer.updated_at = now
            restored.append(customer)
            audits.append(
                AuditEntry(
                    actor=actor,
                    action=AuditEntry.Action.UPDATE,
                    content_type=content_type,
                    object_id=customer.pk,
                    object_repr=customer.name[:200],
                    changes=audit,
                    created_at=now,
                )
            )
        _bulk_update(restored, [*WRITTEN_FIELDS, *DERIVED_FIELDS, "updated_at"])
        if unlink:
            through.objects.filter(pk__in=unlink).delete()
        if relink:
            through.objects.bulk_create(
                [through(customer_id=c, tag_id=t) for c, t in relink],
                ignore_conflicts=True,
            )
        AuditEntry.objects.bulk_create(audits)
        result.restored += len(restored)

    audit_record(
        actor=actor,
        instance=locked,
        action=AuditEntry.Action.UPDATE,
        changes={
            "status": {"old": locked.status, "new": ImportJob.Status.REVERTED},
            "corrections_kept": {"old": "", "new": str(result.corrections_kept)},
        },
    )
    locked.status = ImportJob.Status.REVERTED
    locked.reverted_at = now
    locked.reverted_by = actor
    locked.corrections_kept = result.corrections_kept
    locked.save(
        update_fields=["status", "reverted_at", "reverted_by", "corrections_kept"]
    )
    job.status, job.reverted_at, job.reverted_by, job.corrections_kept = (
        locked.status,
        locked.reverted_at,
        locked.reverted_by,
        locked.corrections_kept,
    )
    return result


# Export ---------------------------------------------------------------------------

EXPORT_FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _export_headers() -> list[str]:
    return [
        _("Name"),
        _("Mobile"),
        _("E-mail"),
        _("Gender"),
        _("Lifecycle stage"),
        _("Source channel"),
        _("Consultant"),
        _("Company"),
        _("Address"),
        _("Identity document type"),
        _("Document number"),
        _("Tags"),
        _("Last contact"),
        _("Next follow-up"),
        _("Created"),
    ]


def _export_row(customer: Customer, user: User) -> list[str]:
    consultant = customer.assigned_consultant
    last_contact = customer.last_contact_at
    return [
        customer.name,
        # Through the same rules as the screen, so what is masked there stays masked.
        customer.mobile_for(user),
        customer.email,
        str(customer.get_gender_display()) if customer.gender else "",
        str(customer.get_stage_display()),
        str(customer.get_source_display()),
        consultant.display_name if consultant else "",
        customer.company,
        customer.address,
        str(customer.get_id_type_display()) if customer.id_type else "",
        customer.id_number_for(user),
        ", ".join(customer.tag_names or []),
        timezone.localtime(last_contact).strftime("%Y-%m-%d %H:%M")
        if last_contact
        else "",
        customer.next_follow_up.isoformat() if customer.next_follow_up else "",
        timezone.localtime(customer.created_at).strftime("%Y-%m-%d %H:%M"),
    ]


def _xlsx(headers: list[str], rows: Iterable[list[str]]) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_("Customers")[:31])
    sheet.append(spreadsheets.sheet_row(sheet, headers))
    for row in rows:
        sheet.append(spreadsheets.sheet_row(sheet, row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _csv(headers: list[str], rows: Iterable[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)
    for row in rows:
        writer.writerow([_safe_cell(value) for value in row])
    return out.getvalue().encode("utf-8-sig")


def customer_export(
    *,
    user: User,
    queryset: QuerySet[Customer],
    file_format: str,
    filters: dict[str, Any],
) -> tuple[bytes, str, str]:
    """The customers of a filtered list as a file, with numbers masked as the user sees
    them on screen; every export is recorded. Returns (content, filename, type)."""
    if file_format not in EXPORT_FORMATS:
        raise ExportRefused(_("Choose CSV or XLSX."))
    if queryset.order_by()[EXPORT_MAX_ROWS : EXPORT_MAX_ROWS + 1].values("pk"):
        raise ExportRefused(
            _(
                "More than %(limit)s customers match. Narrow the filter and "
                "export again."
            )
            % {"limit": f"{EXPORT_MAX_ROWS:,}"}
        )
    tag_names = ArraySubquery(
        Tag.objects.filter(customer=OuterRef("pk")).order_by("name").values("name")
    )
    customers = (
        queryset.select_related("assigned_consultant")
        .annotate(tag_names=tag_names)
        .iterator(chunk_size=2000)
    )
    count = 0

    def rows() -> Iterator[list[str]]:
        nonlocal count
        for customer in customers:
            count += 1
            yield _export_row(customer, user)

    headers = _export_headers()
    content = _xlsx(headers, rows()) if file_format == "xlsx" else _csv(headers, rows())
    ExportRecord.objects.create(
        user=user, filters=filters, file_format=file_format, row_count=count
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return content, f"customers-{stamp}.{file_format}", EXPORT_FORMATS[file_format]
