#!/usr/bin/env python
"""Time a customer import of a generated CSV file (target: 100,000 rows in ≤ 60 s).

    DATABASE_URL=postgres://... python bench/import_bench.py
    python bench/import_bench.py --rows 100000 --revert

Writes bench/out/import_<rows>.csv (mostly new customers, some already in the database,
a few invalid rows and repeats inside the file), then runs the import service the way
the pages do: import_upload → import_suggest_mapping → import_check (the dry run) →
import_run (what the Celery task runs; called directly here, so no worker is needed).
The time of check + run is compared with the target. The imported customers stay in
the database unless --revert is given.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

TARGET_SECONDS = 60.0
HEADERS = [
    "姓名",
    "手机号",
    "性别",
    "客户来源",
    "客户阶段",
    "证件类型",
    "证件号码",
    "邮箱",
    "联系地址",
    "标签",
]
NEEDED = ("import_upload", "import_suggest_mapping", "import_check", "import_run")
# GB 11643-1999 weights and check characters, to write valid resident ID numbers.
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
REGIONS = ["330106", "330108", "330105", "310104", "320505", "330203", "110105"]
SOURCES = ["来访", "来电", "微信", "网站", "活动", "老带新", "中介", "广告"]
STAGES = ["意向客户"] * 8 + ["认购", "业主"]
TAGS = ["学区房", "改善型", "首置", "投资", "高意向"]
DISTRICTS = ["西湖区", "滨江区", "拱墅区", "上城区", "余杭区"]


def resident_id(rng: random.Random) -> str:
    body = (
        rng.choice(REGIONS)
        + f"{rng.randrange(1955, 2004)}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}"
        + f"{rng.randrange(1000):03d}"
    )
    total = sum(int(d) * w for d, w in zip(body, ID_WEIGHTS, strict=True))
    return body + ID_CHECK[total % 11]


def load_imports_module():
    try:
        from customers.services import imports
    except ImportError as exc:
        sys.exit(
            "customers.services.imports is not there yet (or does not import): "
            f"{exc}\nThis benchmark needs its import_upload, import_suggest_mapping, "
            "import_check and import_run."
        )
    missing = [name for name in NEEDED if not hasattr(imports, name)]
    if missing:
        sys.exit(
            "customers.services.imports exists but lacks "
            f"{', '.join(missing)}; this benchmark cannot run yet."
        )
    return imports


def build_csv(
    rows: int, *, seed: int, mobile_seed: int, existing: list[str]
) -> tuple[bytes, dict]:
    from customers.sample_data import MOBILE_PREFIXES, chinese_name

    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    counts = {"new": 0, "existing": 0, "invalid": 0, "repeated": 0}
    recent: list[str] = []
    base = common.IMPORT_INDEX_BASE + (seed % 1000) * 1_000_000
    for i in range(rows):
        draw = rng.random()
        if draw < 0.005:
            mobile, kind = f"1{rng.randrange(10**6):06d}", "invalid"
        elif draw < 0.007 and recent:
            mobile, kind = rng.choice(recent), "repeated"
        elif draw < 0.057 and existing:
            mobile, kind = rng.choice(existing)[3:], "existing"
        else:
            mobile = common.mobile_for_index(
                base + i, prefixes=MOBILE_PREFIXES, seed=mobile_seed
            )[3:]
            kind = "new"
            if len(recent) < 1000:
                recent.append(mobile)
        counts[kind] += 1
        has_id = rng.random() < 0.3
        writer.writerow(
            [
                chinese_name(rng),
                mobile if i % 3 else f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}",
                rng.choice(["男", "女", ""]),
                rng.choice(SOURCES),
                rng.choice(STAGES),
                "身份证" if has_id else "",
                resident_id(rng) if has_id else "",
                f"user{i}@example.com" if rng.random() < 0.2 else "",
                f"杭州市{rng.choice(DISTRICTS)}{rng.randrange(1, 500)}号"
                if rng.random() < 0.3
                else "",
                rng.choice(TAGS) if rng.random() < 0.2 else "",
            ]
        )
    return out.getvalue().encode("utf-8"), counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--seed", type=int, default=1, help="another seed, other customers"
    )
    parser.add_argument("--user", default="admin", help="who imports")
    parser.add_argument(
        "--revert", action="store_true", help="revert the import afterwards"
    )
    args = parser.parse_args()
    if not 1 <= args.rows <= 1_000_000:
        parser.error("--rows must be between 1 and 1,000,000")

    common.django_setup()
    imports = load_imports_module()
    from django.core.files.uploadedfile import SimpleUploadedFile

    from crm_site.models import User
    from customers.models import Customer, ImportJob

    try:
        actor = User.objects.get(username=args.user)
    except User.DoesNotExist:
        parser.error(f"no user {args.user!r} (run manage.py demo_data?)")

    sample = (
        json.loads(common.SAMPLE_FILE.read_text())
        if common.SAMPLE_FILE.exists()
        else {}
    )
    # Same permutation seed as generate.py, so new numbers never hit generated ones.
    mobile_seed = sample.get("seed", 2026)
    existing = list(
        Customer.objects.live().order_by("-id").values_list("mobile", flat=True)[:5000]
    )
    started = time.monotonic()
    data, planned = build_csv(
        args.rows, seed=args.seed, mobile_seed=mobile_seed, existing=existing
    )
    common.OUT.mkdir(parents=True, exist_ok=True)
    path = common.OUT / f"import_{args.rows}.csv"
    path.write_bytes(data)
    print(
        f"Wrote {path.relative_to(common.ROOT)}: {args.rows:,} rows, "
        f"{len(data) / 1e6:.1f} MB in {time.monotonic() - started:.1f} s; planned "
        + ", ".join(f"{k} {v:,}" for k, v in planned.items())
    )
    limit = getattr(imports, "MAX_UPLOAD_BYTES", None)
    if limit and len(data) > limit:
        print(f"Warning: the file is larger than the upload limit ({limit:,} bytes).")

    timings: dict[str, float] = {}
    started = time.monotonic()
    job = imports.import_upload(
        actor=actor,
        uploaded_file=SimpleUploadedFile(path.name, data, content_type="text/csv"),
    )
    timings["upload"] = time.monotonic() - started
    mapping = imports.import_suggest_mapping(HEADERS)
    unmapped = [h for h in HEADERS if h not in mapping]
    print(
        f"Mapping suggested: {mapping}" + (f"; unmapped {unmapped}" if unmapped else "")
    )

    started = time.monotonic()
    job = imports.import_check(job=job, mapping=mapping)
    timings["check"] = time.monotonic() - started
    print(
        f"Dry run: {job.total_rows:,} rows: new {job.created_count:,}, "
        f"updated {job.updated_count:,}, duplicate {job.duplicate_count:,}, "
        f"invalid {job.invalid_count:,} ({timings['check']:.1f} s)"
    )

    # import_start would hand the job to Celery; queue it and run it here instead.
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED)
    started = time.monotonic()
    imports.import_run(job_id=job.pk)
    timings["run"] = time.monotonic() - started
    job.refresh_from_db()
    print(
        f"Run: status {job.status}, processed {job.processed_rows:,}: new "
        f"{job.created_count:,}, updated {job.updated_count:,}, duplicate "
        f"{job.duplicate_count:,}, invalid {job.invalid_count:,} "
        f"({timings['run']:.1f} s)"
    )
    if job.error:
        print(f"Error: {job.error}")

    total = timings["check"] + timings["run"]
    ok = job.status == ImportJob.Status.DONE and total <= TARGET_SECONDS
    print()
    print(f"{'step':<22} {'seconds':>8}")
    for step, seconds in timings.items():
        print(f"{step:<22} {seconds:>8.1f}")
    print(
        f"{'check + run':<22} {total:>8.1f}   target ≤ {TARGET_SECONDS:g} s  "
        f"{'PASS' if ok else 'FAIL'}  ({args.rows / max(total, 1e-9):,.0f} rows/s)"
    )

    if args.revert:
        if not hasattr(imports, "import_revert"):
            print("No import_revert in customers.services.imports; nothing reverted.")
        else:
            started = time.monotonic()
            result = imports.import_revert(job=job, actor=actor)
            print(f"Reverted in {time.monotonic() - started:.1f} s: {result}")
    else:
        print(f"Import job {job.pk} kept (revert it at /customers/imports/{job.pk}/).")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
