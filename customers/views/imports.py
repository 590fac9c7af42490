"""Customer import pages: upload, mapping and dry run, progress, result, revert."""

from __future__ import annotations

from pathlib import PurePath

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from crm_site.pagination import paginate
from crm_site.permissions import action_required, see_required
from customers.forms_imports import ImportMappingForm, ImportUploadForm
from customers.models import ImportJob
from customers.services import imports as services

# Importing edits customers in bulk: both rights, whatever a role's groups say.
PERMISSION = services.IMPORT_PERMISSIONS
ACTIVE = (
    ImportJob.Status.CHECKING,
    ImportJob.Status.QUEUED,
    ImportJob.Status.RUNNING,
)
FINISHED = (
    ImportJob.Status.DONE,
    ImportJob.Status.FAILED,
    ImportJob.Status.REVERTED,
)


def _jobs(request: HttpRequest):
    """Import jobs the user may see: their own, or all with the right to see everyone."""
    jobs = ImportJob.objects.select_related("created_by")
    if request.user.has_perm("customers.scope_all"):
        return jobs
    return jobs.filter(created_by=request.user)


def _job(request: HttpRequest, job_pk: int) -> ImportJob:
    return get_object_or_404(_jobs(request), pk=job_pk)


def _progress_context(job: ImportJob) -> dict:
    total = max(job.total_rows, job.processed_rows)
    percent = job.processed_rows * 100 // total if total else 0
    return {
        "job": job,
        # The dry run does not know how many rows the file has until it has read it.
        "checking": job.status == ImportJob.Status.CHECKING,
        "active": job.status in ACTIVE,
        "finished": job.status in FINISHED,
        "percent": percent,
    }


@see_required(PERMISSION)
def import_list(request: HttpRequest) -> HttpResponse:
    page = paginate(
        _jobs(request).order_by("-created_at", "-id"), page=request.GET.get("page")
    )
    return render(request, "customers/import_list.html", {"page": page})


@action_required(PERMISSION)
def import_upload(request: HttpRequest) -> HttpResponse:
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = services.import_upload(
                actor=request.user, uploaded_file=form.cleaned_data["file"]
            )
        except services.ImportRefused as exc:
            form.add_error("file", str(exc))
        else:
            messages.success(
                request, _("File uploaded. Check how its columns are read.")
            )
            return redirect("customers:import-detail", job_pk=job.pk)
    return render(request, "customers/import_upload.html", {"form": form})


@action_required(PERMISSION)
def import_detail(request: HttpRequest, job_pk: int) -> HttpResponse:
    job = _job(request, job_pk)
    mappable = job.status in services.CHECKABLE
    form = None
    samples: list[list[str]] = []
    headers: list[str] = []
    if mappable:
        try:
            headers, samples = services.import_columns(job=job)
        except (services.ImportRefused, OSError) as exc:
            messages.error(request, str(exc))
            mappable = False
    if mappable:
        form = ImportMappingForm(
            request.POST or None, headers=headers, mapping=job.mapping
        )
        if request.method == "POST" and form.is_valid():
            try:
                services.import_check_queue(
                    job=job, actor=request.user, mapping=form.mapping()
                )
            except services.ImportRefused as exc:
                messages.error(request, str(exc))
            else:
                messages.success(
                    request,
                    _(
                        "Dry run started. Nothing is changed until you start the import."
                    ),
                )
            return redirect("customers:import-detail", job_pk=job.pk)
    elif request.method == "POST":
        messages.error(request, _("This import has been started already."))
        return redirect("customers:import-detail", job_pk=job.pk)
    columns = []
    if form is not None:
        for index, (name, header) in enumerate(form.columns):
            column = int(name.removeprefix("column_"))
            columns.append(
                {
                    "field": form[name],
                    "header": header,
                    "examples": [row[column] for row in samples if row[column]][:3],
                    "index": index,
                }
            )
    labels = {
        "new": _("New"),
        "updated": _("Update"),
        "duplicate": _("Duplicate"),
        "invalid": _("Invalid"),
    }
    context = _progress_context(job)
    context.update(
        {
            "form": form,
            "columns": columns,
            "can_start": job.status == ImportJob.Status.CHECKED
            and (job.created_count or job.updated_count),
            # A failed import that wrote nothing (taken back before it ran, say)
            # has nothing to revert.
            "can_revert": job.status == ImportJob.Status.DONE
            or (job.status == ImportJob.Status.FAILED and job.processed_rows > 0),
            "preview": [
                {**row, "label": labels.get(row.get("verdict"), "")}
                for row in job.preview
            ],
        }
    )
    return render(request, "customers/import_detail.html", context)


@see_required(PERMISSION)
def import_progress(request: HttpRequest, job_pk: int) -> HttpResponse:
    """The progress bar alone, polled by htmx every second while the import runs."""
    job = _job(request, job_pk)
    response = render(
        request, "customers/import_detail.html#progress", _progress_context(job)
    )
    if request.htmx and job.status not in ACTIVE:
        # Finished: reload the whole page once to show the result and its links.
        response["HX-Refresh"] = "true"
    return response


@action_required(PERMISSION)
@require_POST
def import_start(request: HttpRequest, job_pk: int) -> HttpResponse:
    job = _job(request, job_pk)
    try:
        services.import_start(job=job, actor=request.user)
    except services.ImportRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Import started."))
    return redirect("customers:import-detail", job_pk=job.pk)


@see_required(PERMISSION)
def import_rejected(request: HttpRequest, job_pk: int) -> FileResponse:
    job = _job(request, job_pk)
    if not job.rejected_file:
        raise Http404
    try:
        handle = job.rejected_file.open("rb")
    except OSError:
        raise Http404 from None
    return FileResponse(
        handle,
        as_attachment=True,
        filename=f"{PurePath(job.original_name).stem}-rejected.csv",
        content_type="text/csv; charset=utf-8",
    )


@action_required(PERMISSION)
@require_POST
def import_revert(request: HttpRequest, job_pk: int) -> HttpResponse:
    job = _job(request, job_pk)
    try:
        result = services.import_revert(job=job, actor=request.user)
    except services.ImportRefused as exc:
        messages.error(request, str(exc))
        return redirect("customers:import-detail", job_pk=job.pk)
    messages.success(
        request,
        _("Import reverted: %(deleted)s customers removed, %(restored)s restored.")
        % {"deleted": result.deleted, "restored": result.restored},
    )
    if result.corrections_kept:
        messages.info(
            request,
            ngettext(
                "%(count)s value changed since the import was kept: the revert "
                "restores only what the import wrote.",
                "%(count)s values changed since the import were kept: the revert "
                "restores only what the import wrote.",
                result.corrections_kept,
            )
            % {"count": result.corrections_kept},
        )
    if result.out_of_scope:
        messages.warning(
            request,
            _("%(count)s customers were left as they are: you may not change them now.")
            % {"count": result.out_of_scope},
        )
    if result.kept:
        names = ", ".join(c.name for c in result.kept[:20])
        if len(result.kept) > 20:
            names += ", …"
        messages.warning(
            request,
            _(
                "%(count)s imported customers were kept because they have been "
                "used since (timeline entries, deals or later imports): %(names)s"
            )
            % {"count": len(result.kept), "names": names},
        )
    return redirect("customers:import-detail", job_pk=job.pk)
