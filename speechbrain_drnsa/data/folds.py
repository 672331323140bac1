"""Cross-validation protocols: which utterances train, validate and test in each fold.

Every protocol turns a SpeechBrain manifest (``{utt_id: {"speaker", "emo", ...}}``)
into a list of :class:`Fold` s. Ids inside each part are sorted, so a protocol is a
pure function of the manifest (and the seed, for the shuffled ones).

Protocols selectable by name with :func:`make_folds`:

``speaker10`` (default)
    One fold per speaker, in sorted order (10 on IEMOCAP). The speaker is tested, the
    other speaker(s) of the same ``session`` validate, everyone else trains. This is the
    speaker-independent reading of the 10-fold cross-validation of Li et al. (2019).
``session5``
    One fold per ``session`` (leave one session out, 5 on IEMOCAP). Validation is one
    speaker of the next session (cyclically): the first in sorted order on fold 0, the
    second on fold 1, and so on, so that on IEMOCAP it alternates F, M, F, M, F. The other
    speaker of that session trains.
``random``
    Stratified 10-fold over ``emo``, speakers mixed: fold k tests part k, validates on
    part k + 1 (cyclically) and trains on the other eight (80/10/10), like SpeechBrain's
    own IEMOCAP recipe. See :func:`stratified_kfold`.
``loso``
    Leave one speaker out for any corpus, see :func:`leave_one_speaker_out`.
``speaker_kfold<N>``, e.g. ``speaker_kfold5``
    Speakers grouped into N folds, see :func:`speaker_kfold`.
``leave_one_corpus_out``
    For a manifest of several corpora (a ``corpus`` key per entry): one fold per
    corpus, which is tested whole, see :func:`leave_one_corpus_out`.
``cross_corpus``
    One fold: the corpus named ``test_corpus`` tested whole, the others train and
    validate, see :func:`cross_corpus`.

Fold files (:mod:`speechbrain_drnsa.data.fold_files`) hold a JSON list of
``{"train": [...], "valid": [...], "test": [...]}``.
"""

import random
import re
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, NamedTuple


__all__ = [
    "Fold",
    "PROTOCOLS",
    "make_folds",
    "check_protocol",
    "leave_one_speaker_out",
    "speaker_kfold",
    "stratified_kfold",
    "leave_one_corpus_out",
    "cross_corpus",
    "CROSS_CORPUS_PROTOCOLS",
]

#: Protocol names of one corpus accepted by :func:`make_folds`, besides ``speaker_kfold<N>``.
PROTOCOLS = ("speaker10", "session5", "random", "loso")

#: The protocols that test whole corpora, also accepted; their manifests need a ``corpus`` key.
CROSS_CORPUS_PROTOCOLS = ("leave_one_corpus_out", "cross_corpus")

_SPEAKER_KFOLD = re.compile(r"speaker_kfold(\d+)")

Manifest = Mapping[str, Mapping[str, Any]]


class Fold(NamedTuple):
    """The utterance ids of one cross-validation fold.

    Arguments
    ---------
    train : list of str
        Ids to train on.
    valid : list of str
        Ids for model selection and early stopping.
    test : list of str
        Ids to report results on.

    Example
    -------
    >>> fold = Fold(train=["a", "b"], valid=["c"], test=["d"])
    >>> len(fold.train), fold.test
    (2, ['d'])
    """

    train: list[str]
    valid: list[str]
    test: list[str]


def make_folds(
    manifest: Manifest, protocol: str = "speaker10", seed: int = 1234,
    test_corpus: str | None = None,
) -> list[Fold]:
    """Build the folds of a protocol named as in the module docstring.

    Arguments
    ---------
    manifest : Mapping
        ``{utt_id: {"speaker": ..., "emo": ..., "session": ..., "gender": ...}}``; each
        protocol needs only the keys it uses.
    protocol : str
        One of :data:`PROTOCOLS`, :data:`CROSS_CORPUS_PROTOCOLS` or ``speaker_kfold<N>``.
    seed : int
        Seed of the shuffled protocols (``random``, ``speaker_kfold<N>``).
    test_corpus : str, optional
        The corpus ``cross_corpus`` tests; the other protocols take none.

    Returns
    -------
    list of Fold
        The folds, in a fixed order.

    Example
    -------
    >>> manifest = {
    ...     f"{spk}_{i}": {"speaker": spk, "session": spk[:5], "emo": "neu"}
    ...     for spk in ["Ses01F", "Ses01M", "Ses02F", "Ses02M"] for i in range(2)
    ... }
    >>> folds = make_folds(manifest, "speaker10")
    >>> len(folds), folds[0].test, folds[0].valid
    (4, ['Ses01F_0', 'Ses01F_1'], ['Ses01M_0', 'Ses01M_1'])
    """
    check_protocol(protocol)
    if (protocol == "cross_corpus") != (test_corpus is not None):
        raise ValueError("protocol 'cross_corpus', and only it, needs the test corpus: "
                         f"protocol {protocol!r}, test corpus {test_corpus!r}")
    if protocol == "cross_corpus":
        return cross_corpus(manifest, test_corpus)
    if protocol == "leave_one_corpus_out":
        return leave_one_corpus_out(manifest)
    if protocol == "speaker10":
        return _session_partner_folds(manifest)
    if protocol == "session5":
        return _leave_one_session_out(manifest)
    if protocol == "random":
        return stratified_kfold(manifest, n_folds=10, seed=seed)
    if protocol == "loso":
        return leave_one_speaker_out(manifest)
    return speaker_kfold(manifest, int(_SPEAKER_KFOLD.fullmatch(protocol).group(1)), seed=seed)


def check_protocol(protocol: str) -> str:
    """Check that ``protocol`` names a protocol, before any work depends on it.

    Arguments
    ---------
    protocol : str
        A name from :data:`PROTOCOLS`, :data:`CROSS_CORPUS_PROTOCOLS` or ``speaker_kfold<N>``.

    Returns
    -------
    str
        ``protocol`` itself.

    Example
    -------
    >>> check_protocol("speaker_kfold5")
    'speaker_kfold5'
    >>> check_protocol("speaker5")
    Traceback (most recent call last):
    ...
    ValueError: unknown fold protocol 'speaker5'; expected one of speaker10, ...
    """
    if protocol in PROTOCOLS + CROSS_CORPUS_PROTOCOLS or _SPEAKER_KFOLD.fullmatch(str(protocol)):
        return protocol
    raise ValueError(
        f"unknown fold protocol {protocol!r}; expected one of "
        f"{', '.join(PROTOCOLS + CROSS_CORPUS_PROTOCOLS)} or speaker_kfold<N>"
    )


def leave_one_speaker_out(manifest: Manifest) -> list[Fold]:
    """One fold per speaker: test that speaker, validate on another one.

    The validation speaker of a fold is the next speaker in sorted order (cyclically)
    that has the same ``gender``, when every entry has a ``gender`` key and such a
    speaker exists; otherwise simply the next speaker in sorted order.

    Arguments
    ---------
    manifest : Mapping
        Entries with a ``speaker`` key, optionally ``gender``.

    Returns
    -------
    list of Fold
        One fold per speaker, speakers in sorted order.

    Example
    -------
    >>> manifest = {
    ...     "a1": {"speaker": "a", "gender": "F"}, "b1": {"speaker": "b", "gender": "M"},
    ...     "c1": {"speaker": "c", "gender": "F"}, "d1": {"speaker": "d", "gender": "M"},
    ... }
    >>> leave_one_speaker_out(manifest)[0]
    Fold(train=['b1', 'd1'], valid=['c1'], test=['a1'])
    """
    groups = _group(manifest, "speaker", "loso")
    speakers = sorted(groups)
    if len(speakers) < 3:
        raise ValueError(f"protocol 'loso' needs at least 3 speakers, found {len(speakers)}")
    genders = _speaker_genders(manifest)
    folds = []
    for k, test in enumerate(speakers):
        following = speakers[k + 1:] + speakers[:k]
        same = [spk for spk in following if genders and genders[spk] == genders[test]]
        valid = (same or following)[0]
        folds.append(_fold(groups, test=[test], valid=[valid]))
    return folds


def speaker_kfold(manifest: Manifest, n_folds: int, seed: int = 1234) -> list[Fold]:
    """Speaker-grouped k-fold: each speaker falls in exactly one of ``n_folds`` groups.

    Speakers are shuffled with ``seed``, then given, largest first, to the group with the
    fewest utterances so far. Fold k tests group k, validates on group k + 1
    (cyclically) and trains on the others.

    Arguments
    ---------
    manifest : Mapping
        Entries with a ``speaker`` key.
    n_folds : int
        Number of groups, at least 3 and at most the number of speakers.
    seed : int
        Seed of the shuffle that breaks ties between speakers of equal size.

    Returns
    -------
    list of Fold
        ``n_folds`` folds.

    Example
    -------
    >>> manifest = {f"{s}{i}": {"speaker": s} for s in "abcdef" for i in range(3)}
    >>> folds = speaker_kfold(manifest, 3)
    >>> [len(f.test) for f in folds]
    [6, 6, 6]
    """
    groups = _group(manifest, "speaker", f"speaker_kfold{n_folds}")
    if not 3 <= n_folds <= len(groups):
        raise ValueError(
            f"speaker_kfold needs 3 <= n_folds <= number of speakers ({len(groups)}), "
            f"got {n_folds}"
        )
    speakers = sorted(groups)
    random.Random(seed).shuffle(speakers)
    # sorted() is stable: equal sizes keep their shuffled order.
    speakers = sorted(speakers, key=lambda spk: -len(groups[spk]))
    parts: list[list[str]] = [[] for _ in range(n_folds)]
    sizes = [0] * n_folds
    for spk in speakers:
        k = sizes.index(min(sizes))
        parts[k].append(spk)
        sizes[k] += len(groups[spk])
    return [
        _fold(groups, test=parts[k], valid=parts[(k + 1) % n_folds]) for k in range(n_folds)
    ]


def stratified_kfold(manifest: Manifest, n_folds: int = 10, seed: int = 1234) -> list[Fold]:
    """Stratified k-fold over ``emo``, speakers mixed (the ``random`` protocol).

    The ids of each class are shuffled with ``seed`` and dealt in turn to the parts,
    continuing from class to class so that the parts differ by at most one utterance.
    Fold k tests part k, validates on part k + 1 (cyclically) and trains on the others.

    Arguments
    ---------
    manifest : Mapping
        Entries with an ``emo`` key.
    n_folds : int
        Number of parts, at least 3.
    seed : int
        Seed of the shuffle.

    Returns
    -------
    list of Fold
        ``n_folds`` folds.

    Example
    -------
    >>> manifest = {f"u{i}": {"emo": ["neu", "sad"][i % 2]} for i in range(20)}
    >>> folds = stratified_kfold(manifest, n_folds=4)
    >>> [len(f.test) for f in folds], len(folds[0].train)
    ([5, 5, 5, 5], 10)
    """
    if n_folds < 3:
        raise ValueError(f"stratified_kfold needs n_folds >= 3, got {n_folds}")
    by_class = _group(manifest, "emo", "random")
    rng = random.Random(seed)
    parts: dict[int, list[str]] = defaultdict(list)
    dealt = 0
    for emo in sorted(by_class):
        ids = sorted(by_class[emo])
        rng.shuffle(ids)
        for utt in ids:
            parts[dealt % n_folds].append(utt)
            dealt += 1
    if dealt < n_folds:
        raise ValueError(f"stratified_kfold needs at least {n_folds} utterances, got {dealt}")
    groups = {str(k): ids for k, ids in parts.items()}
    return [_fold(groups, test=[str(k)], valid=[str((k + 1) % n_folds)]) for k in range(n_folds)]


def leave_one_corpus_out(manifest: Manifest) -> list[Fold]:
    """One fold per corpus, in sorted order: that corpus tested whole, the others train.

    Each fold is :func:`cross_corpus` of its test corpus, so validation speakers come
    from the training corpora only.

    Arguments
    ---------
    manifest : Mapping
        Entries with ``corpus`` and ``speaker`` keys, of at least two corpora.

    Returns
    -------
    list of Fold
        One fold per corpus.

    Example
    -------
    >>> manifest = {f"{c}/{s}{i}": {"corpus": c, "speaker": f"{c}/{s}"}
    ...             for c, speakers in [("x", "abc"), ("y", "de")] for s in speakers
    ...             for i in range(2)}
    >>> [(f.test[0].split("/")[0], len(f.test), f.valid) for f in leave_one_corpus_out(manifest)]
    [('x', 6, ['y/d0', 'y/d1']), ('y', 4, ['x/a0', 'x/a1'])]
    """
    corpora = _group(manifest, "corpus", "leave_one_corpus_out")
    if len(corpora) < 2:
        raise ValueError("protocol 'leave_one_corpus_out' needs at least 2 corpora, found "
                         f"{len(corpora)}: {', '.join(sorted(corpora))}")
    return [cross_corpus(manifest, name)[0] for name in sorted(corpora)]


def cross_corpus(manifest: Manifest, test_corpus: str) -> list[Fold]:
    """One fold: every utterance of ``test_corpus`` tested, the other corpora train and validate.

    Validation holds out one speaker (the first in sorted order) of each training corpus
    that has at least 3 speakers, so that selection sees every such corpus while a
    corpus of 2 speakers keeps both for training; when no training corpus has 3, one
    speaker of the training corpus with the most speakers validates.

    Arguments
    ---------
    manifest : Mapping
        Entries with ``corpus`` and ``speaker`` keys.
    test_corpus : str
        The corpus to test.

    Returns
    -------
    list of Fold
        The one fold.

    Example
    -------
    >>> manifest = {f"{c}/{s}": {"corpus": c, "speaker": f"{c}/{s}"}
    ...             for c, speakers in [("x", "abc"), ("y", "de"), ("z", "f")] for s in speakers}
    >>> cross_corpus(manifest, "z")
    [Fold(train=['x/b', 'x/c', 'y/d', 'y/e'], valid=['x/a'], test=['z/f'])]
    """
    corpora = _group(manifest, "corpus", "cross_corpus")
    if test_corpus not in corpora:
        raise ValueError(f"protocol 'cross_corpus': no corpus {test_corpus!r} to test; "
                         f"corpora: {', '.join(sorted(corpora))}")
    speakers = _group(manifest, "speaker", "cross_corpus")
    corpus_of = _speaker_attribute(manifest, "corpus", "cross_corpus")
    training: dict[str, list[str]] = defaultdict(list)
    for speaker in sorted(speakers):
        if corpus_of[speaker] != test_corpus:
            training[corpus_of[speaker]].append(speaker)
    valid = [names[0] for names in training.values() if len(names) >= 3]
    if not valid:
        largest = max(training.values(), key=len, default=[])
        if len(largest) < 2:
            raise ValueError(
                f"protocol 'cross_corpus': testing {test_corpus!r} leaves no training corpus "
                "with 2 speakers, one to train on and one to validate on"
            )
        valid = largest[:1]
    test = [speaker for speaker in speakers if corpus_of[speaker] == test_corpus]
    return [_fold(speakers, test=test, valid=valid)]


def _session_partner_folds(manifest: Manifest) -> list[Fold]:
    """``speaker10``: test one speaker, validate on the others of the same session."""
    groups = _group(manifest, "speaker", "speaker10")
    session_of = _speaker_attribute(manifest, "session", "speaker10")
    folds = []
    for test in sorted(groups):
        partners = [
            spk for spk in sorted(groups) if spk != test and session_of[spk] == session_of[test]
        ]
        if not partners:
            raise ValueError(
                f"protocol 'speaker10' needs two speakers per session; session "
                f"{session_of[test]!r} has only {test!r}"
            )
        folds.append(_fold(groups, test=[test], valid=partners))
    return _nonempty(folds, "speaker10")


def _leave_one_session_out(manifest: Manifest) -> list[Fold]:
    """``session5``: test one session, validate on one speaker of the next session."""
    speakers = _group(manifest, "speaker", "session5")
    session_of = _speaker_attribute(manifest, "session", "session5")
    by_session: dict[str, list[str]] = defaultdict(list)
    for spk in sorted(speakers):
        by_session[session_of[spk]].append(spk)
    sessions = sorted(by_session)
    if len(sessions) < 3:
        raise ValueError(f"protocol 'session5' needs at least 3 sessions, found {len(sessions)}")
    folds = []
    for k, session in enumerate(sessions):
        following = by_session[sessions[(k + 1) % len(sessions)]]
        valid = following[k % len(following)]
        folds.append(_fold(speakers, test=by_session[session], valid=[valid]))
    return _nonempty(folds, "session5")


def _group(manifest: Manifest, key: str, protocol: str) -> dict[str, list[str]]:
    """Utterance ids grouped by the value of ``key``, failing clearly if one lacks it."""
    groups: dict[str, list[str]] = defaultdict(list)
    for utt, entry in manifest.items():
        if key not in entry:
            raise ValueError(f"protocol {protocol!r} needs a {key!r} key; entry {utt!r} has none")
        groups[str(entry[key])].append(utt)
    if not groups:
        raise ValueError(f"protocol {protocol!r}: the manifest is empty")
    return dict(groups)


def _speaker_attribute(manifest: Manifest, key: str, protocol: str) -> dict[str, str]:
    """The value of ``key`` for each speaker, which must be the same for all their turns."""
    values: dict[str, str] = {}
    for utt, entry in manifest.items():
        if key not in entry:
            raise ValueError(f"protocol {protocol!r} needs a {key!r} key; entry {utt!r} has none")
        value = values.setdefault(str(entry["speaker"]), str(entry[key]))
        if value != str(entry[key]):
            raise ValueError(f"speaker {entry['speaker']!r} appears in two {key}s: {utt!r}")
    return values


def _speaker_genders(manifest: Manifest) -> dict[str, str]:
    """Gender per speaker when every entry has one, else an empty dict."""
    if not all("gender" in entry for entry in manifest.values()):
        return {}
    return {str(entry["speaker"]): str(entry["gender"]) for entry in manifest.values()}


def _fold(groups: Mapping[str, list[str]], test: list[str], valid: list[str]) -> Fold:
    """Fold from group names: ``test`` and ``valid`` groups, all other groups train."""
    held_out = set(test) | set(valid)
    train = [utt for name, ids in groups.items() if name not in held_out for utt in ids]
    return Fold(
        train=sorted(train),
        valid=sorted(utt for name in valid for utt in groups[name]),
        test=sorted(utt for name in test for utt in groups[name]),
    )


def _nonempty(folds: list[Fold], protocol: str) -> list[Fold]:
    """Reject folds with an empty part, which a too-small subset of a corpus gives."""
    for k, fold in enumerate(folds):
        empty = [part for part in Fold._fields if not getattr(fold, part)]
        if empty:
            raise ValueError(
                f"protocol {protocol!r}: fold {k} has no {' or '.join(empty)} utterances; "
                "the corpus has too few speakers or sessions for it"
            )
    return folds
