"""Apply only what was reviewed (docs/ci.md#apply-only-what-was-reviewed).

On a push, the pushed commit's merged pull request is found, and its plan
comment's review data (:class:`~provisioner.github.comment.Review`) is compared
with the plan made now. What differs is told one line per action, in the words
of :func:`provisioner.plan.review.review_differences`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from provisioner.github.api import GitHub
from provisioner.github.comment import Review, ours
from provisioner.plan.review import ReviewEntry, review_differences


@dataclass(frozen=True)
class Reviewed:
    """The review a merged pull request's plan comment carries."""

    pull: int
    review: Review

    @property
    def where(self) -> str:
        return f"pull request #{self.pull}"


def find(github: GitHub, sha: str, file: str, author: str) -> Reviewed | str:
    """The review of ``file`` on the merged pull request of commit ``sha``, or why there
    is none (a message for the person who pushed)."""
    pulls = [p for p in github.pulls_of_commit(sha) if p.merged]
    # the pull request this commit merged, else any merged one that contains it
    pulls.sort(key=lambda p: p.merge_sha != sha)
    if not pulls:
        return (
            f"commit {sha[:12]} belongs to no merged pull request, so no plan of {file} was "
            "reviewed (require-reviewed-plan: true). Nothing was applied. Merge changes "
            "through a pull request whose plan job comments the plan, or run this job with "
            "require-reviewed-plan: false"
        )
    number = pulls[0].number
    comment = ours(github.comments(number), file, author)
    if comment is None:
        return (
            f"pull request #{number} has no plan comment for {file} by {author}, so no plan "
            f"of it was reviewed. Nothing was applied. Re-run the plan job of pull request "
            f"#{number}, then re-run this job"
        )
    review = Review.decode(comment.body)
    if review is None or not review.fingerprint:
        why = f": {review.failed}" if review is not None and review.failed else ""
        return (
            f"the last plan of {file} on pull request #{number} did not complete{why}, so "
            f"nothing was reviewed. Nothing was applied. Fix it, re-run the plan job of pull "
            f"request #{number}, then re-run this job"
        )
    return Reviewed(number, review)


def differences(review: Review, entries: Sequence[ReviewEntry]) -> list[str]:
    """What the plan now does that the reviewed one did not; counts per kind when the
    comment could not list every action."""
    if review.entries is not None:
        return review_differences(review.entries, entries)
    now: dict[str, int] = {}
    for entry in entries:
        now[entry.kind] = now.get(entry.kind, 0) + 1
    return [f"# reviewed: {_counts(review.counts)}", f"# now: {_counts(now)}"]


def stale_message(reviewed: Reviewed, fingerprint: str, count: int) -> str:
    review = reviewed.review
    return (
        f"the plan changed since it was reviewed on {reviewed.where} (reviewed fingerprint "
        f"{review.fingerprint}, planned at {review.sha[:7] or '?'}; now {fingerprint}): "
        f"{count} difference{'' if count == 1 else 's'}. Nothing was applied. Re-plan: "
        f"re-run the plan job of {reviewed.where} (or open a pull request with this change), "
        "have the new plan reviewed, then re-run this job"
    )


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()) if n) or "no changes"
