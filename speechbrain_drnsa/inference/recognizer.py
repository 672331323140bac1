"""EmotionRecognizer: classify speech with an exported model, as SpeechBrain's EncoderClassifier.

``from_hparams(source)`` loads a model folder or a hub id without running code
from it (:mod:`speechbrain_drnsa.inference.folder`), with the other calls of
SpeechBrain's ``Pretrained`` (:mod:`~speechbrain_drnsa.inference.pretrained`); ``classify_file``,
``classify_batch`` and ``encode_batch`` follow
``speechbrain.inference.classifiers.EncoderClassifier``. A folder of several
folds is an ensemble: the output probabilities are the mean of the folds'.
``backend="onnx"`` runs the folder's ``model.onnx`` with ONNX Runtime instead
of building torch models (:mod:`~speechbrain_drnsa.inference.onnx_backend`).
``classify_segments`` classifies the stretches of speech Silero VAD finds in a
recording (:mod:`~speechbrain_drnsa.inference.vad`, the ``vad`` extra).

Per-speaker models (trained on LLDs standardised with each speaker's own
statistics) need the speaker's statistics: :meth:`EmotionRecognizer.enrol`
computes them from several files of that speaker. Without an enrolled
speaker, each file is standardised with its own statistics, the closest
stand-in for a speaker's (the training statistics would feed the model raw,
unstandardised LLDs it never saw); this is logged once. A model trained
without them refuses a speaker rather than ignore it. Inputs are checked by
:mod:`~speechbrain_drnsa.inference.inputs`, shared with the command line.

Files are read, their features extracted and standardised in numpy, and
tensors are made only for the torch models: the ONNX backend never imports
torch (a cold ``classify --backend onnx`` starts in a fraction of the time;
BENCHMARKS.md), and both backends share every step before the model.
"""

import logging
from collections.abc import Iterable, Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.lld_sets import frame_extractor
from speechbrain_drnsa.features.statistics import FeatureStatistics
from speechbrain_drnsa.inference.folder import ONNX_NAME, ModelFolder
from speechbrain_drnsa.inference.inputs import (
    batch_signals, check_device, check_window, signal_warnings,
)
from speechbrain_drnsa.inference.pretrained import PretrainedInterface, placed
from speechbrain_drnsa.inference.speakers import audio_files, load_speakers, save_speakers
from speechbrain_drnsa.inference.vad import SegmentLengths, load_vad, speech_segments
from speechbrain_drnsa.inference.windows import (
    FileFeatures, FileResult, Segment, WindowResult, read_spans, read_windows,
)

if TYPE_CHECKING:  # imported by the torch backend only
    import torch

__all__ = ["EmotionRecognizer"]

logger = logging.getLogger(__name__)
# precision -> torch dtype name
_PRECISIONS = {"fp32": "float32", "bf16": "bfloat16"}


class EmotionRecognizer(PretrainedInterface):
    """Classify the emotion of speech with an exported DRN-MHSA model (or an ensemble of folds).

    Arguments
    ---------
    folder : ModelFolder
        From :func:`~speechbrain_drnsa.inference.folder.load_model_folder`
        (:func:`~speechbrain_drnsa.inference.folder.read_model_folder` for ``"onnx"``).
    device : str
        Torch device of the models (features are computed on the CPU); ``"cpu"`` for ONNX.
    backend : str
        ``"torch"`` (the folder's models) or ``"onnx"`` (its ``model.onnx``, on
        the CPU; needs the ``onnx`` extra; no torch model is built).
    num_threads : int, optional
        ONNX Runtime's threads (``"onnx"`` only; default: all cores).
    precision : str
        ``"fp32"`` (the default: the trained model exactly) or ``"bf16"``: the
        torch models' weights and activations in bfloat16, about 1.6 times
        faster on CPUs with native bfloat16 (AVX512-BF16, AMX) and GPUs, with
        probabilities a little off the fp32 ones (docs/inference.md measures
        how much). SpeechBrain's ``run_opts["precision"]`` names.

    Usage (a runnable version is ``tests/test_inference_recognizer.py``)::

        recognizer = EmotionRecognizer.from_hparams("pretrained/drnsa")
        out_prob, score, index, text_lab = recognizer.classify_file("a.wav")
    """

    def __init__(
        self,
        folder: ModelFolder,
        device: str = "cpu",
        backend: str = "torch",
        num_threads: int | None = None,
        precision: str = "fp32",
    ):
        if backend not in ("torch", "onnx"):
            raise ValueError(f"backend must be 'torch' or 'onnx', got {backend!r}")
        if precision not in _PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(_PRECISIONS)}, got {precision!r}")
        if precision != "fp32" and backend != "torch":
            raise ValueError(f"precision {precision!r} needs the torch backend; ONNX runs fp32")
        if backend == "onnx" and str(device).partition(":")[0] != "cpu":
            raise ValueError(f"the ONNX backend runs on the CPU, not {str(device)!r}")
        self.folder = folder
        self.backend = backend
        #: Dtype of the torch models' weights and inputs (None: ONNX, no torch models).
        self.dtype = None
        #: Device of the torch models (``"cpu"`` on the ONNX backend, which imports no torch).
        self.device: Any = "cpu"
        if backend == "torch":
            import torch

            self.dtype, self.device = getattr(torch, _PRECISIONS[precision]), check_device(device)
        self.labels = list(folder.labels)
        self.onnx = None
        if backend == "onnx":
            from speechbrain_drnsa.inference.onnx_backend import OnnxEnsemble

            self.onnx = OnnxEnsemble(
                folder.path / ONNX_NAME, self.labels, folder.config["folds"], num_threads
            )
        torch_folds = folder.models if self.onnx is None else []
        self.models = [_for_inference(model, self.device, self.dtype) for model in torch_folds]
        self.normalizers = [placed(norm, self.device)
                            for norm in folder.normalizers[: len(torch_folds)]]
        #: LLD frames per encoder output frame: shorter audio gets a warning.
        self.total_stride = (
            self.onnx.total_stride if self.onnx else self.models[0].encoder.total_stride
        )
        self.speaker_normalization = bool(folder.config["speaker_normalization"])
        window = folder.config.get("inference_window", {})
        self.window_s, self.hop_s = check_window(window.get("length_s", 10.0), window.get("hop_s"))
        features = folder.config["features"]
        # an SSL front end's weights come from its own source (hub or local folder), never
        # from the model folder
        self.extractor = frame_extractor(features.get("feature_set"), features.get("ssl"))
        self.speakers: dict[str, FeatureStatistics] = {}
        #: A fusion model's second input (None: LLDs only).
        self.functionals = None
        if folder.config.get("functionals"):
            if self.onnx is not None:
                raise ValueError("the ONNX backend does not take utterance functionals: use torch")
            from speechbrain_drnsa.inference.functionals_input import FunctionalsInput

            self.functionals = FunctionalsInput(
                folder.config["functionals"],
                [placed(norm, self.device) for norm in folder.functionals_normalizers],
                self.speaker_normalization,
            )
        self._warned_no_speaker = False
        #: Silero VAD (:func:`~speechbrain_drnsa.inference.vad.load_vad`), loaded on first use.
        self.vad = None
        expected = folder.config["features"].get("config_hash")
        if expected and expected != self.extractor.config_hash:
            logger.warning(
                "%s: features were computed with another openSMILE configuration or version or "
                "another resampler (hash %s..., here %s...); predictions may differ from the "
                "training run's",
                folder.path, expected[:12], self.extractor.config_hash[:12],
            )

    def classify_batch(
        self, wavs: "torch.Tensor", wav_lens: "torch.Tensor | None" = None,
        speaker: str | None = None,
    ) -> tuple["torch.Tensor", "torch.Tensor", "torch.Tensor", list[str]]:
        """Classify a padded batch of 16 kHz waveforms.

        Arguments
        ---------
        wavs : torch.Tensor
            ``(batch, time)`` or ``(batch, time, channels)`` floats at the model's
            sample rate (16 kHz); refused otherwise
            (:func:`~speechbrain_drnsa.inference.inputs.batch_signals`).
        wav_lens : torch.Tensor, optional
            Relative lengths ``(batch,)`` in (0, 1]; None: no padding.
        speaker : str, optional
            An enrolled speaker (per-speaker models only).

        Returns
        -------
        out_prob : torch.Tensor
            ``(batch, classes)`` class probabilities (mean over the folds).
        score : torch.Tensor
            ``(batch,)`` the highest probability.
        index : torch.Tensor
            ``(batch,)`` its class index.
        text_lab : list of str
            Its label.
        """
        import torch

        self._check_speaker(speaker)
        rate = self.extractor.sample_rate
        signals = [signal.numpy() for signal in batch_signals(wavs, wav_lens)]
        feats = [self.extractor.extract_array(signal, rate) for signal in signals]
        for i, (signal, frames) in enumerate(zip(signals, feats)):
            for warning in self._warnings(f"wavs[{i}]", signal, frames.shape[0], rate):
                logger.warning(warning)
        out_prob = self._probabilities(
            feats, speaker, functionals=self._functionals_of(signals, rate)
        )
        return self._decide(torch.from_numpy(out_prob))

    def encode_batch(
        self, wavs: "torch.Tensor", wav_lens: "torch.Tensor | None" = None,
        speaker: str | None = None,
    ) -> "torch.Tensor":
        """Utterance embeddings: the LSTM-pooled vector of every fold's model.

        The folds' models are trained separately, so their embedding spaces
        differ: one embedding per fold is returned, not their mean.

        Arguments
        ---------
        wavs, wav_lens, speaker
            As in :meth:`classify_batch`.

        Returns
        -------
        torch.Tensor
            ``(batch, folds, embedding)``; ``(batch, 1, embedding)`` for one
            model, as ``EncoderClassifier.encode_batch``.
        """
        if self.onnx is not None:
            raise ValueError("encode_batch needs the torch backend: model.onnx outputs logits")
        import torch

        self._check_speaker(speaker)
        rate = self.extractor.sample_rate
        feats = [self.extractor.extract_array(signal.numpy(), rate)
                 for signal in batch_signals(wavs, wav_lens)]
        feats, lengths = self._on_device(*self._standardized(feats, speaker))
        with torch.inference_mode():
            embeddings = [
                model.pooling(*model.encoder(*inputs)).float()
                for model, inputs in zip(self.models, self._fold_inputs(feats, lengths))
            ]
        return torch.stack(embeddings, dim=1).cpu()

    def classify_file(
        self, path: str | PathLike, speaker: str | None = None
    ) -> tuple["torch.Tensor", "torch.Tensor", "torch.Tensor", list[str]]:
        """Classify one audio file (any rate, any channels; long files in windows).

        Arguments
        ---------
        path : str or PathLike
            The audio file.
        speaker : str, optional
            An enrolled speaker (per-speaker models only).

        Returns
        -------
        tuple
            ``(out_prob (1, classes), score (1,), index (1,), text_lab [label])``
            as :meth:`classify_batch`; long files: mean of the windows'.
        """
        import torch

        result = self.classify_windows(path, speaker=speaker)
        for warning in result.warnings:  # the tuple has no room for them
            logger.warning(warning)
        return self._decide(torch.tensor([result.probabilities]))

    def classify_windows(
        self,
        path: str | PathLike,
        speaker: str | None = None,
        window_s: float | None = None,
        hop_s: float | None = None,
    ) -> FileResult:
        """Classify a file window by window (one window when it is short enough).

        Arguments
        ---------
        path : str or PathLike
            The audio file.
        speaker : str, optional
            An enrolled speaker (per-speaker models only).
        window_s, hop_s : float, optional
            Window and hop in seconds (default: the model folder's, 10 and 5 s;
            a window alone hops by half of it).

        Returns
        -------
        FileResult
            Aggregate (mean of the windows' probabilities), per-window results
            with start and end times, and warnings (silence, very short audio,
            a band missing, samples above full scale), returned, not logged.

        Raises
        ------
        ValueError
            For a window or hop out of range
            (:func:`~speechbrain_drnsa.inference.inputs.check_window`), a speaker
            given to a model without per-speaker statistics.
        InputFileError
            For a file that cannot be used, naming it.
        """
        return self.classify_features(self.file_features(path, window_s, hop_s), speaker)

    def classify_segments(
        self,
        path: str | PathLike,
        speaker: str | None = None,
        lengths: SegmentLengths = SegmentLengths(),
    ) -> FileResult:
        """Classify each stretch of speech Silero VAD finds in a file (the ``vad`` extra).

        Arguments
        ---------
        path : str or PathLike
            The audio file (read in blocks: any length).
        speaker : str, optional
            An enrolled speaker (per-speaker models only).
        lengths : SegmentLengths
            How speech is merged across pauses, split and widened into segments.

        Returns
        -------
        FileResult
            One result per segment (``windows``); the file's probabilities are
            the segments' mean weighted by their duration. Without speech: no
            label, no probabilities, and a warning (returned, not logged).
        """
        self._check_speaker(speaker)
        if self.vad is None:
            self.vad = load_vad()
        spans, _ = speech_segments(path, self.vad, lengths)
        if not spans:
            return FileResult(str(path), None, None, [], [],
                              [f"{path}: no speech found; not classified"])
        features = self._pieces_features(path, read_spans(path, spans))
        return self.classify_features(features, speaker, weighted=True)

    def file_features(
        self, path: str | PathLike, window_s: float | None = None, hop_s: float | None = None
    ) -> FileFeatures:
        """A file's features window by window, to enrol its speaker with and classify it.

        Arguments
        ---------
        path : str or PathLike
            The audio file.
        window_s, hop_s : float, optional
            As in :meth:`classify_windows`.

        Returns
        -------
        FileFeatures
            For :meth:`enrol_features` and :meth:`classify_features`: computed
            once, they serve both.
        """
        if window_s is None and hop_s is None:
            window_s, hop_s = self.window_s, self.hop_s
        else:  # a window alone hops by half of it
            window_s, hop_s = check_window(self.window_s if window_s is None else window_s, hop_s)
        return self._pieces_features(path, read_windows(path, window_s, hop_s))

    def _pieces_features(self, path: str | PathLike, pieces: Iterable[Segment]) -> FileFeatures:
        """The features of each piece (window or speech segment) of a file."""
        windows, peak, rate = [], 0.0, None
        for segment in pieces:
            peak, rate = max(peak, float(np.abs(segment.signal).max())), segment.sample_rate
            feats = self.extractor.extract_array(segment.signal, segment.sample_rate)
            vectors = self._functionals_of([segment.signal], segment.sample_rate)
            windows.append((segment.start_s, segment.end_s, feats, vectors))
        return FileFeatures(str(path), windows, peak, rate)

    def classify_features(
        self, features: FileFeatures, speaker: str | None = None, weighted: bool = False
    ) -> FileResult:
        """Classify a file from its :meth:`file_features` (see :meth:`classify_windows`).

        The file's probabilities are the mean of its pieces', weighted by their
        duration when ``weighted`` (speech segments differ in length; windows do not).
        """
        self._check_speaker(speaker)
        path, segments = features.path, features.windows
        warnings = signal_warnings(
            path, features.peak, sum(f.shape[0] for _, _, f, _ in segments), self.total_stride,
            features.sample_rate, self.extractor.sample_rate, segments[-1][1],
        )
        statistics = self._file_statistics([feats for _, _, feats, _ in segments], speaker)
        windows = []
        for start, end, feats, vectors in segments:
            probs = self._probabilities([feats], speaker, statistics, vectors)[0]
            windows.append(WindowResult(start, end, *self._best(probs), probs.tolist()))
        probs = np.array([w.probabilities for w in windows], dtype=np.float32)
        if weighted:
            weights = np.array([w.end_s - w.start_s for w in windows], dtype=np.float32)
            mean = (probs * weights[:, None]).sum(axis=0) / weights.sum()
        else:
            mean = probs.mean(axis=0)
        return FileResult(str(path), *self._best(mean), mean.tolist(), windows, warnings)

    def enrol(self, speaker: str, files: str | PathLike | Iterable[str | PathLike]) -> int:
        """Compute a speaker's LLD statistics from several of their files, kept for later calls.

        Arguments
        ---------
        speaker : str
            A name to refer to the speaker with.
        files : str, PathLike or iterable of them
            A folder (its audio files, recursively) or a list of files.

        Returns
        -------
        int
            The number of 10 ms frames the statistics cover.
        """
        self._check_speaker(speaker)
        paths = audio_files(files)
        if not paths:
            raise InputFileError(str(files), f"no audio files to enrol speaker {speaker!r} with")
        return self.enrol_features(
            speaker, [self.file_features(path, self.window_s, self.window_s) for path in paths]
        )

    def enrol_features(self, speaker: str, files: Sequence[FileFeatures]) -> int:
        """Enrol a speaker from their files' :meth:`file_features` (see :meth:`enrol`).

        Every window counts: files longer than a window, read with overlapping
        windows, weigh their overlapped frames twice (:meth:`enrol` reads
        windows that do not overlap).
        """
        windows = [window for file in files for window in file.windows]
        if not windows:
            raise ValueError(f"no audio to enrol speaker {speaker!r} with")
        self.speakers[speaker] = FeatureStatistics.fit(
            (feats for _, _, feats, _ in windows), len(self.extractor.feature_names)
        )
        if self.functionals is not None:  # one vector per file window, as per utterance
            self.functionals.enrol(speaker, (vectors[0] for _, _, _, vectors in windows))
        return int(self.speakers[speaker].count)

    def save_speakers(self, path: str | PathLike) -> Path:
        """Write the enrolled speakers' statistics to a JSON file (:meth:`load_speakers`)."""
        functionals = self.functionals.speakers if self.functionals is not None else {}
        return save_speakers(self.speakers, functionals, path)

    def load_speakers(self, path: str | PathLike) -> list[str]:
        """Read speakers' statistics written by :meth:`save_speakers`; returns their names."""
        llds, functionals = load_speakers(path)
        self.speakers.update(llds)
        if self.functionals is not None:
            self.functionals.speakers.update(functionals)
        return sorted(self.speakers)

    def _warnings(self, name: str, signal: np.ndarray, frames: int, rate: int) -> list[str]:
        return signal_warnings(name, float(np.abs(signal).max()), frames, self.total_stride,
                               rate, self.extractor.sample_rate, signal.size / rate)

    def _check_speaker(self, speaker: str | None) -> None:
        if speaker is not None and not self.speaker_normalization:
            raise ValueError(
                "this model was trained without per-speaker statistics (speaker_normalization: "
                f"false): speaker {speaker!r} would change nothing; drop speaker= / --speaker-dir"
            )

    def _functionals_of(
        self, signals: Sequence[np.ndarray], rate: int
    ) -> list["torch.Tensor"] | None:
        if self.functionals is None:
            return None
        return [self.functionals.extract(signal, rate) for signal in signals]

    def _file_statistics(
        self, feats: Sequence[np.ndarray], speaker: str | None
    ) -> FeatureStatistics | None:
        if not self.speaker_normalization:
            return None
        if speaker is not None:
            return self._speaker(speaker)
        self._warn_no_speaker()
        return FeatureStatistics.fit(feats, feats[0].shape[1])

    def _standardized(
        self, feats: list[np.ndarray], speaker: str | None, statistics: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Padded ``(batch, time, features)`` LLDs (speaker-standardised) and relative lengths."""
        if self.speaker_normalization:
            if statistics is None and speaker is not None:
                statistics = self._speaker(speaker)
            if statistics is None:
                self._warn_no_speaker()
            feats = [(statistics if statistics is not None
                      else FeatureStatistics.fit([f], f.shape[1]))(f) for f in feats]
        longest = max(f.shape[0] for f in feats)
        padded = np.zeros((len(feats), longest, feats[0].shape[1]), dtype=np.float32)
        for row, f in zip(padded, feats):
            row[: f.shape[0]] = f
        lengths = np.array([f.shape[0] / longest for f in feats], dtype=np.float32)
        return padded, lengths

    def _on_device(self, padded: np.ndarray, lengths: np.ndarray) -> list["torch.Tensor"]:
        """Padded features and lengths as tensors on the models' device."""
        import torch

        return [torch.from_numpy(x).to(self.device) for x in (padded, lengths)]

    def _probabilities(
        self,
        feats: list[np.ndarray],
        speaker: str | None,
        statistics: Any = None,
        functionals: list["torch.Tensor"] | None = None,
    ) -> np.ndarray:
        """``(batch, classes)`` probabilities: the mean of the folds' softmax."""
        padded, lengths = self._standardized(feats, speaker, statistics)
        if self.onnx is not None:
            return _finite(self.onnx.probabilities(padded, lengths), self.folder.path)
        import torch

        inputs = self._fold_inputs(*self._on_device(padded, lengths), functionals, speaker)
        with torch.inference_mode():
            probs = [model(*x).float().softmax(dim=-1) for model, x in zip(self.models, inputs)]
        return _finite(torch.stack(probs).mean(dim=0).cpu().numpy(), self.folder.path)

    def _fold_inputs(
        self,
        feats: "torch.Tensor",
        lengths: "torch.Tensor",
        functionals: list["torch.Tensor"] | None = None,
        speaker: str | None = None,
    ) -> list[list["torch.Tensor"]]:
        """Each fold model's inputs: its normalised LLDs, lengths (and functionals)."""
        import torch

        # a fusion model's folds each take their own normalised functionals
        extra = ([[x] for x in self.functionals.batch(functionals, speaker)]
                 if self.functionals is not None else [[] for _ in self.models])
        with torch.inference_mode():
            return [self._cast(norm(feats, lengths), lengths, *more)
                    for norm, more in zip(self.normalizers, extra)]

    def _cast(self, feats: "torch.Tensor", lengths: "torch.Tensor", *more: "torch.Tensor") -> list:
        """The model's inputs in its precision (relative lengths stay fp32)."""
        return [feats.to(self.dtype), lengths, *(x.to(self.dtype) for x in more)]

    def _decide(
        self, out_prob: "torch.Tensor"
    ) -> tuple["torch.Tensor", "torch.Tensor", "torch.Tensor", list[str]]:
        score, index = out_prob.max(dim=-1)
        return out_prob, score, index, [self.labels[i] for i in index.tolist()]

    def _best(self, probs: np.ndarray) -> tuple[str, float]:
        index = int(probs.argmax())
        return self.labels[index], float(probs[index])

    def _speaker(self, speaker: str) -> FeatureStatistics:
        if speaker not in self.speakers:
            enrolled = sorted(self.speakers)
            raise ValueError(f"speaker {speaker!r} is not enrolled; enrolled: {enrolled}")
        return self.speakers[speaker]

    def _warn_no_speaker(self) -> None:
        if not self._warned_no_speaker:
            self._warned_no_speaker = True
            logger.warning(
                "this model expects per-speaker standardised LLDs and no speaker was given: "
                "each file is standardised with its own statistics (enrol speakers for better "
                "estimates); said once"
            )


def _finite(probabilities: np.ndarray, folder: Path) -> np.ndarray:
    if not np.isfinite(probabilities).all():
        raise InputFileError(folder, "the model gives NaN or infinite probabilities: its "
                             "weights or normaliser statistics are unusable")
    return probabilities


def _for_inference(
    model: "torch.nn.Module", device: "torch.device", dtype: "torch.dtype"
) -> "torch.nn.Module":
    """A loaded fold model on its device and dtype, DRN batch norms folded into convolutions.

    In fp32 on the CPU the DRN weights are also prepacked for oneDNN (``pack_for_cpu``).
    """
    import torch

    from speechbrain_drnsa.lobes import DRNEncoder

    model.eval()
    for module in model.modules():
        if isinstance(module, DRNEncoder):
            module.fold_batch_norms()  # in place: folding twice changes nothing
    model = placed(model, device, dtype)
    if device.type == "cpu" and dtype == torch.float32:
        for module in model.modules():
            if isinstance(module, DRNEncoder):
                module.pack_for_cpu()
    return model
