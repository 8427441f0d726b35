"""Which of a workflow's changes a run takes: its patches, and the generation it started at.

``workflow.patched`` records a marker and upserts the ``TemporalChangeVersion`` search
attribute the first time a run reaches each patch: two history events and a visibility write
per patch in every new run, only so that older runs can be told apart. A run started by code
that already has a set of changes carries that code's generation in its input and takes
every change of its generation without asking, so it records nothing for them. A run whose
input has no generation (0: started before generations) asks ``workflow.patched`` as
before, and a change made after the current generation is patched the usual way until a
later generation takes it in.
"""

from __future__ import annotations

from temporalio import workflow


def takes(patch_id: str, generation: int, since: int = 1) -> bool:
    """Whether this run takes the change ``patch_id``, which generation ``since`` took in."""
    return generation >= since or workflow.patched(patch_id)
