"""What the weekly report reads: decision counts and latencies, the answers' outcomes, open cases."""

from __future__ import annotations

from bot.store.base import StoreBase, ts_range


class ReportQueries(StoreBase):
    def record_answer(self, decision_id: int, outcome: str, ts: float) -> None:
        """The answer guard's outcome for an ALLOW answer (ok, loop_cut, shortened, fallback_*), or
        response_flagged; one row per decision (a replay after a crash overwrites it)."""
        self._write(
            lambda c: c.execute(
                "INSERT INTO answers(decision_id, ts, outcome) VALUES (?, ?, ?) ON CONFLICT(decision_id) "
                "DO UPDATE SET ts = excluded.ts, outcome = excluded.outcome",
                (decision_id, ts, outcome),
            )
        )

    def answer_outcomes(self, since: float | None = None, until: float | None = None) -> dict[str, int]:
        where, params = ts_range(since, until)
        rows = self._read(f"SELECT outcome AS k, count(*) AS n FROM answers {where} GROUP BY outcome", params)
        return {str(r["k"]): int(r["n"]) for r in rows}

    def response_counts(self, since: float | None = None, until: float | None = None) -> dict[str, int]:
        """Answers stopped by the response head, per resulting verdict (REFUSE / ESCALATE)."""
        where, params = ts_range(since, until)
        where = (where + " AND" if where else "WHERE") + " kind = 'response'"
        rows = self._read(f"SELECT verdict AS k, count(*) AS n FROM decisions {where} GROUP BY verdict", params)
        return {str(r["k"]): int(r["n"]) for r in rows}


    def counts(self, since: float | None = None, until: float | None = None) -> dict[str, dict[str, int]]:
        where, params = ts_range(since, until)
        where = (where + " AND" if where else "WHERE") + " kind = 'decision'"
        out: dict[str, dict[str, int]] = {}
        for col in ("verdict", "category", "lang", "reason"):
            rows = self._read(
                f"SELECT {col} AS k, count(*) AS n FROM decisions {where} GROUP BY {col} ORDER BY k", params
            )
            out[col] = {str(r["k"]): int(r["n"]) for r in rows}
        return out

    def latencies_ms(self, since: float | None = None, until: float | None = None) -> list[float]:
        where, params = ts_range(since, until)
        where = (where + " AND" if where else "WHERE") + " kind = 'decision'"
        return [float(r["latency_ms"] or 0.0) for r in self._read(f"SELECT latency_ms FROM decisions {where}", params)]


    def escalation_counts(self) -> dict[str, int]:
        rows = self._read("SELECT domain, count(*) AS n FROM escalations WHERE status = 'open' GROUP BY domain")
        return {str(r["domain"]): int(r["n"]) for r in rows}
