"""SpeechBrain's ``Pretrained`` interface, without importing SpeechBrain or running folder code.

Users of ``speechbrain.inference.interfaces.Pretrained`` call
``from_hparams(source, hparams_file, overrides, savedir, ...)``,
``load_audio(path)``, ``.to(device)`` and the model itself (``forward``).
:class:`PretrainedInterface` gives
:class:`~speechbrain_drnsa.inference.EmotionRecognizer` the same calls with the
same argument names. SpeechBrain's options that would run or rebuild
something from the folder (``overrides``, another ``hparams_file``,
``pymodule_file``) or fetch by its own means (``local_strategy``,
``fetch_config``, tokens) are refused one by one with the reason, instead
of a ``TypeError`` (docs/inference.md lists the differences).
"""

import copy
from os import PathLike
from typing import TYPE_CHECKING, Any

from speechbrain_drnsa.features.audio import read_audio
from speechbrain_drnsa.features.resample import resample
from speechbrain_drnsa.inference.folder import CONFIG_NAME, load_model_folder, read_model_folder
from speechbrain_drnsa.inference.hub import resolve_source
from speechbrain_drnsa.inference.inputs import check_device

if TYPE_CHECKING:  # imported where tensors are made: the ONNX path imports no torch
    import torch

__all__ = ["PretrainedInterface", "placed"]

_RUN_OPTS = ("device", "precision", "num_threads")
_REFUSED = {
    "pymodule_file": "a model folder holds no code, and none is ever run",
    "use_auth_token": "log in with `huggingface-cli login` or set HF_TOKEN instead",
    "token": "log in with `huggingface-cli login` or set HF_TOKEN instead",
    "local_strategy": "files come from huggingface_hub's cache (savedir), never linked or copied",
    "fetch_config": "files come from huggingface_hub's cache (savedir); set HF_HUB_OFFLINE=1 "
                    "to stay offline",
    "overrides_must_match": "overrides are not applied (see overrides)",
    "freeze_params": "the models are always frozen, in evaluation mode",
}
# SpeechBrain's defaults of those options: passing them changes nothing, so they are accepted
_HARMLESS = {"pymodule_file": "custom.py", "use_auth_token": False, "token": None,
             "overrides_must_match": True, "freeze_params": True}


class PretrainedInterface:
    """The calls of SpeechBrain's ``Pretrained`` for a recognizer of a model folder.

    A subclass takes ``(folder, device=..., backend=..., num_threads=..., precision=...)`` and
    defines ``classify_batch``, ``models``, ``normalizers``, ``functionals``,
    ``extractor``, ``onnx``, ``dtype`` and ``device``.
    """

    @classmethod
    def from_hparams(
        cls,
        source: str | PathLike,
        hparams_file: str = CONFIG_NAME,
        overrides: dict[str, Any] | None = None,
        savedir: str | PathLike | None = None,
        run_opts: dict[str, Any] | None = None,
        revision: str | None = None,
        backend: str = "torch",
        huggingface_cache_dir: str | PathLike | None = None,
        download_only: bool = False,
        **options: Any,
    ) -> Any:
        """Load a model folder or a hub id (``owner/name``), running no code from it.

        Arguments
        ---------
        source : str or PathLike
            A folder written by :func:`~speechbrain_drnsa.inference.export`, or a hub id.
        hparams_file : str
            Must be ``hyperparams.yaml``, the folder's plain-data config.
        overrides : dict, optional
            Must be empty: the config describes the trained network as it is.
        savedir : str or PathLike, optional
            Hub cache folder for a hub id.
        run_opts : dict, optional
            ``{"device": "cuda:0", "precision": "bf16"}``; CPU and fp32 by default;
            ``"num_threads"``: ONNX Runtime's threads (``backend="onnx"``).
        revision : str, optional
            Hub branch, tag or commit.
        backend : str
            ``"torch"`` or ``"onnx"`` (see the recognizer).
        huggingface_cache_dir : str or PathLike, optional
            SpeechBrain's name for ``savedir`` (give one of them).
        download_only : bool
            Fetch the files of a hub id into the cache, build nothing, return None.
        **options
            SpeechBrain's other options, each refused with its reason unless it
            has SpeechBrain's default value (``freeze_params=True`` ...).

        Returns
        -------
        EmotionRecognizer
            Ready to classify (None with ``download_only``).

        Raises
        ------
        ValueError
            For an option that is refused, naming it and why.
        """
        for name in (name for name in options if _HARMLESS.get(name, ...) != options[name]):
            why = _REFUSED.get(name, f"not an option of from_hparams: {_accepted()}")
            raise ValueError(f"from_hparams({name}=...) refused: {why}")
        if hparams_file != CONFIG_NAME:
            raise ValueError(
                f"from_hparams(hparams_file={hparams_file!r}) refused: a model folder's config "
                f"is always {CONFIG_NAME}, plain data (hyperpyyaml files could run code)"
            )
        if overrides:
            raise ValueError(
                f"from_hparams(overrides={overrides!r}) refused: the config describes the trained "
                "network as it is; window and hop are arguments of classify_windows"
            )
        if huggingface_cache_dir is not None:
            if savedir is not None and str(savedir) != str(huggingface_cache_dir):
                raise ValueError("give savedir or huggingface_cache_dir (the same thing), not both")
            savedir = huggingface_cache_dir
        unknown = sorted(set(run_opts or {}) - set(_RUN_OPTS))
        if unknown:
            raise ValueError(f"run_opts {unknown[0]!r} is not used here; taken: {_RUN_OPTS}")
        folder, root = resolve_source(source, savedir, revision)
        if download_only:
            return None
        run_opts = run_opts or {}
        load = read_model_folder if backend == "onnx" else load_model_folder
        return cls(
            load(folder, root),
            device=run_opts.get("device", "cpu"),
            backend=backend,
            num_threads=run_opts.get("num_threads"),
            precision=run_opts.get("precision", "fp32"),
        )

    def load_audio(self, path: str | PathLike, savedir: str | PathLike | None = None
                   ) -> "torch.Tensor":
        """Read a local audio file as the model takes it: mono, at its sample rate, on its device.

        Arguments
        ---------
        path : str or PathLike
            An audio file (any rate, any channels).
        savedir : None
            SpeechBrain fetches remote paths into it; only local files are read here.

        Returns
        -------
        torch.Tensor
            ``(time,)`` float32, ready for ``classify_batch(signal.unsqueeze(0))``.
        """
        import torch

        if savedir is not None:
            raise ValueError("load_audio reads local files only: savedir is not used")
        signal, rate = read_audio(path)
        target = self.extractor.sample_rate
        # the features' own resampler, so that this signal gives the file's features
        signal = torch.from_numpy(resample(signal.numpy(), rate, target))
        return signal.to(self.device)

    def to(self, device: "str | torch.device") -> Any:
        """Move the models to ``device`` (features stay on the CPU); returns the recognizer."""
        device = check_device(device)
        if self.onnx is not None and device.type != "cpu":
            raise ValueError("the ONNX backend runs on the CPU: use backend='torch' for "
                             f"{str(device)!r}")
        self.models = [placed(model, device, self.dtype) for model in self.models]
        self.normalizers = [placed(norm, device) for norm in self.normalizers]
        if self.functionals is not None:
            self.functionals.normalizers = [placed(n, device) for n in self.functionals.normalizers]
        self.device = device
        return self

    def forward(self, wavs: "torch.Tensor", wav_lens: "torch.Tensor | None" = None) -> tuple:
        """Classify a batch, as ``EncoderClassifier.forward``: :meth:`classify_batch`."""
        return self.classify_batch(wavs, wav_lens)

    def __call__(self, wavs: "torch.Tensor", wav_lens: "torch.Tensor | None" = None) -> tuple:
        return self.forward(wavs, wav_lens)


def placed(
    module: "torch.nn.Module", device: "torch.device", dtype: "torch.dtype | None" = None
) -> "torch.nn.Module":
    """``module`` on ``device`` (and ``dtype``): a copy when it moves.

    ``.to`` works in place, and a loaded folder's modules may be shared by
    recognizers of other devices or precisions, which must not see them change.

    Example
    -------
    >>> import torch
    >>> layer = torch.nn.Linear(2, 2)
    >>> placed(layer, torch.device("cpu")) is layer, placed(layer, torch.device("cpu"),
    ...                                                     torch.bfloat16) is layer
    (True, False)
    >>> layer.weight.dtype
    torch.float32
    """
    tensors = [*module.parameters(), *module.buffers()]
    if all(t.device == device and (dtype is None or not t.is_floating_point()
                                   or t.dtype == dtype) for t in tensors):
        return module
    return copy.deepcopy(module).to(device=device, dtype=dtype)


def _accepted() -> str:
    return ("source, hparams_file, overrides, savedir, run_opts, revision, backend, "
            "huggingface_cache_dir, download_only")
