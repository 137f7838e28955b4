"""Benchmark: a batch of N letters (cover page + the suitability questionnaire), PDFs and manifest.

Goal (issue 5): 10,000 letters within 60 s on the 2-core machine, peak memory under 1 GiB, and the
per-letter cost at most 2x the engine's own cost for the same pages (no QR code, no database),
both measured in the same run. Also prints, on samples, the cost of laying every letter out on its
own (the design before print_letters/stamp.py, many letters per PDF) and of the naive way (one
WeasyPrint call and one PDF per letter).

    .venv/bin/python benchmarks/bench_letters.py [--letters 10000] [--processes N] [--chunk 200]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _client_common import register_name  # noqa: E402


class PeakRSS:
    """Samples the summed resident memory of this process and its children (/proc), keeps the peak."""

    def __init__(self, interval: float = 0.2):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()

    @staticmethod
    def _rss(pid: int) -> int:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    @staticmethod
    def _children(pid: int) -> list[int]:
        found = []
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                found += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
        return found

    def _tree(self, pid: int) -> int:
        return self._rss(pid) + sum(self._tree(c) for c in self._children(pid))

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._tree(os.getpid()))
            time.sleep(self.interval)

    def __enter__(self):
        self.peak = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._stop.clear()


def _product(i: int, varied: bool) -> dict:
    name, risk = PRODUCTS[(i // 5) % 5] if varied else PRODUCTS[0]
    return {"product_name": name, "product_risk": risk}


PRODUCTS = [("稳健理财1号", "R2"), ("沪深300指数增强私募基金", "R4"), ("科创板交易权限", "R4"),
            ("国债逆回购", "R1"), ("中证500ETF联接基金A类份额", "R3")]


def setup(app, n: int, varied: bool = False) -> list[int]:
    """N clients and N letter invitations of the suitability questionnaire (not measured).

    varied: each client has one of five risk levels and one of five products (names of different
    lengths), so the letters print 25 different questionnaire texts, not one.
    """
    from app.clients.models import Client, RiskLevel
    from app.db_types import utcnow
    from app.definitions.service import publish_builtin
    from app.extensions import db
    from app.reviews.models import Channel, Invitation
    from app.schema import create_schema
    from delivery.links import new_public_id, new_short_code

    create_schema()
    publish_builtin("bench")
    from app.definitions.service import get_version

    version = get_version("suitability")
    clients = [Client(account=f"B{i:08d}", name=register_name(i),
                      postal_address=f"上海市浦东新区世纪大道{i % 900 + 1}号{i % 30 + 1}楼{i % 12 + 1}0{i % 4 + 1}室",
                      risk_level=list(RiskLevel)[i % 5] if varied else RiskLevel.C3, id_last4="123X")
               for i in range(n)]
    db.session.add_all(clients)
    db.session.flush()
    expires = utcnow() + timedelta(days=40)
    db.session.add_all([Invitation(public_id=new_public_id(), short_code=new_short_code(), client_id=c.id,
                                   version_id=version.id, review_type=version.questionnaire.review_type,
                                   channel=Channel.LETTER, context=_product(i, varied),
                                   expires_at=expires, created_by="bench") for i, c in enumerate(clients)])
    db.session.commit()
    return [i for (i,) in db.session.execute(db.select(Invitation.id).order_by(Invitation.id))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=os.cpu_count())
    parser.add_argument("--chunk", type=int, default=50)
    parser.add_argument("--naive-sample", type=int, default=10)
    parser.add_argument("--layout-sample", type=int, default=20)
    parser.add_argument("--varied", action="store_true", help="25 products x risk levels instead of one text")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-letters-"))
    from app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'bench.db'}", "SECRET_KEYS": ["bench"],
                      "PUBLIC_BASE_URL": "https://hf.example.com", "SERVER_NAME": "hf.example.com",
                      "LETTER_OUTPUT_DIR": str(workdir / "out")})
    with app.app_context():
        from app.extensions import db
        from app.letters.service import Selection, create_batch, letter_content, run_batch
        from app.reviews.models import Invitation
        from print_letters.batch import render_batch
        from print_letters.layout import letter_html, page_css
        from print_letters.render import render_pdf

        t0 = time.perf_counter()
        ids = setup(app, args.letters, args.varied)
        print(f"setup: {len(ids)} clients and invitations in {time.perf_counter() - t0:.1f} s (not measured)")

        # 1. The real thing: select, read the database, sign links, draw QR codes, render, manifest.
        with PeakRSS() as full_mem:
            t0 = time.perf_counter()
            batch = create_batch(Selection(questionnaire_key="suitability"), "bench", chunk_size=args.chunk,
                                 enqueue_job=False)
            db.session.commit()
            batch = run_batch(batch.id, processes=args.processes)
            db.session.commit()
            full = time.perf_counter() - t0
        assert batch.printed == args.letters, (batch.printed, batch.skipped[:3])

        # 2. The engine's own cost for the same pages: no QR code, no database (contents built beforehand).
        invitations = db.session.scalars(db.select(Invitation).order_by(Invitation.id)).all()
        contents = [replace(letter_content(inv, f"HL-B{i:07d}"[:12], "dl"), with_qr=False)
                    for i, inv in enumerate(invitations)]
        with PeakRSS() as engine_mem:
            t0 = time.perf_counter()
            render_batch(contents, workdir / "engine", chunk_size=args.chunk, processes=args.processes)
            engine = time.perf_counter() - t0

        # 3. Every letter laid out on its own, written many to a file (no stamping), one process.
        sample = [replace(c, with_qr=True) for c in contents[: args.layout_sample]]
        t0 = time.perf_counter()
        render_batch(sample, workdir / "laid-out", chunk_size=len(sample), processes=1, stamp=False)
        laid_out = (time.perf_counter() - t0) / max(len(sample), 1)

        # 4. The naive way on a sample: one WeasyPrint call (one PDF) per letter, one process.
        sample = [replace(c, with_qr=True) for c in contents[: args.naive_sample]]
        css = page_css("zh-CN")
        t0 = time.perf_counter()
        for content in sample:
            render_pdf([letter_html(content)], css)
        naive = (time.perf_counter() - t0) / max(len(sample), 1)

    n = args.letters
    print(f"letters: {n}, pages: {batch.pages} ({batch.pages / n:.1f} per letter), files: {len(batch.files)}, "
          f"processes: {args.processes}, chunk: {args.chunk}")
    print(f"full batch (DB + QR + PDFs + manifest): {full:.1f} s = {full / n * 1000:.1f} ms/letter wall; "
          f"peak RSS {full_mem.peak / 2**20:.0f} MiB")
    print(f"engine only (same pages, no QR, no DB):  {engine:.1f} s = {engine / n * 1000:.1f} ms/letter wall; "
          f"peak RSS {engine_mem.peak / 2**20:.0f} MiB")
    print(f"ratio full / engine: {full / engine:.2f} (goal <= 2.0)")
    print(f"each letter laid out on its own, 1 process: {laid_out * 1000:.0f} ms/letter "
          f"(the stamped batch is {laid_out / (full / n * args.processes):.0f}x cheaper per letter of CPU)")
    print(f"naive one PDF per letter, 1 process: {naive * 1000:.0f} ms/letter "
          f"(x{args.processes} processes would be {naive / args.processes * 1000:.0f} ms/letter wall)")
    projected = full / n * 10_000
    print(f"10,000 letters at this rate: {projected:.0f} s (goal 60 s) -> "
          f"{'MET' if projected <= 60 else 'MISSED'}; memory goal (< 1024 MiB): "
          f"{'MET' if full_mem.peak < 2**30 else 'MISSED'}")


if __name__ == "__main__":
    main()
