"""The label set of a corpus CSV, for recipes whose classes come from the data.

A recipe yaml builds its model before any preparation runs (``n_classes``
follows ``labels``), so the generic CSV recipe reads its label set straight
from the table: ``labels: !apply:speechbrain_drnsa.data.labels.csv_labels
[!ref <csv>, !ref <label_map>]``. Reading the table is cheap and writes nothing,
so every process of a multi-process run may do it.
"""

from collections.abc import Mapping
from os import PathLike

from speechbrain_drnsa.data.csv_corpora import CorpusSpec, corpora_labels

__all__ = ["csv_labels"]


def csv_labels(
    csv_path: str | PathLike | CorpusSpec, label_map: Mapping[str, str | None] | None = None
) -> list[str]:
    """Return the sorted emotion labels of a corpus CSV, or of several after a label map.

    Arguments
    ---------
    csv_path : str or PathLike, or several
        A corpus CSV (``path, speaker, emotion[, duration]``), see
        :mod:`speechbrain_drnsa.data.csv_corpus`; a missing or malformed
        file is an error naming it. Several: ``[name=path, ...]``, see
        :mod:`speechbrain_drnsa.data.csv_corpora`.
    label_map : mapping, optional
        Emotion renames; only the emotions it names are kept
        (:func:`~speechbrain_drnsa.data.csv_corpora.map_labels`).

    Returns
    -------
    list of str
        Each emotion found, once, sorted: the order of the model's outputs.

    Example
    -------
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ["a.wav", "b.wav", "c.wav"]:
    ...     _ = (folder / name).write_bytes(b"")
    >>> _ = (folder / "c.csv").write_text(
    ...     "path,speaker,emotion\\na.wav,s1,sad\\nb.wav,s2,angry\\nc.wav,s1,sad\\n")
    >>> csv_labels(folder / "c.csv")
    ['angry', 'sad']
    """
    return corpora_labels(csv_path, label_map)
