"""all-MiniLM-L6-v2 (or any BERT-like sentence-transformers model) on onnxruntime: no torch, no transformers.

Reproduces what sentence-transformers computes for a model made of Transformer -> Pooling -> (Normalize):
  - tokenization with the model's own tokenizer.json (the Rust `tokenizers` library, which transformers' fast
    tokenizer wraps), truncated to max_seq_length from sentence_bert_config.json (256 for all-MiniLM-L6-v2; the
    tokenizer.json itself says 128, which sentence-transformers overrides), padded to the longest text of the
    batch, lowercased first when sentence_bert_config.json says do_lower_case;
  - the transformer as an ONNX graph (model.onnx, exported at build time by components/model/prepare_model.py);
  - pooling from the Pooling module's config.json: mean over the attention mask (all-MiniLM-L6-v2), or the CLS
    token;
  - L2 normalization (always: the function promises unit vectors; a Normalize module in modules.json asks for
    it too).

"onnx" ships the fp32 graph, "onnx-int8" the dynamically quantized one; the artifact's ml_lambda_onnx.json says
which, and loading the wrong one is refused (a deployment mistake, not something to guess around).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import ClassVar, Dict, List, Optional, Sequence

import numpy as np

from app.backends import Backend, BackendError

# sentence-transformers' default batch size. Texts are sorted by length first (as sentence-transformers does), so
# a batch pads to similar lengths.
BATCH_SIZE = 32
MANIFEST = "ml_lambda_onnx.json"
MODEL_FILE = "model.onnx"
SUPPORTED_POOLING = ("mean", "cls")


def available_cpus() -> int:
    """vCPUs this process may use: the affinity mask, capped by a cgroup v2 CPU quota when one is set.

    Lambda gives a function vCPUs in proportion to its memory (1,769 MB = 1 vCPU, up to 6 at 10,240 MB); more
    intra-op threads than that only adds contention.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, int(int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


# Lambda gives a function CPU in proportion to its memory: 1,769 MB is one vCPU
# (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html), up to 6 at 10,240 MB.
MB_PER_VCPU = 1769


def memory_vcpus(env=os.environ) -> Optional[int]:
    """The vCPU share of the function's memory (AWS_LAMBDA_FUNCTION_MEMORY_SIZE), rounded to whole threads; None
    outside Lambda. Lambda can show the process more CPUs than its share (the quota, not the affinity mask, is what
    limits it), and intra-op threads beyond the share only take turns on it."""
    raw = (env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") or "").strip()
    try:
        mb = int(raw)
    except ValueError:
        return None
    return max(1, int(mb / MB_PER_VCPU + 0.5)) if mb > 0 else None


def threads_from_env(env=os.environ) -> int:
    """ONNX_THREADS overrides the intra-op thread count (default: available_cpus(), capped by the memory's vCPU share)."""
    raw = (env.get("ONNX_THREADS") or "").strip()
    if not raw:
        share = memory_vcpus(env)
        return min(available_cpus(), share) if share else available_cpus()
    try:
        value = int(raw)
    except ValueError:
        raise BackendError(f"ONNX_THREADS must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise BackendError(f"ONNX_THREADS must be a positive integer, got {raw!r}")
    return value


def _read_json(path: Path, what: str) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackendError(f"{path} is missing ({what})") from None
    except ValueError as e:
        raise BackendError(f"{path} is not valid JSON ({what}): {e}") from None


class ModelLayout:
    """What the backend reads from a model directory, checked before any session is created."""

    def __init__(self, model_dir: Path) -> None:
        self.dir = model_dir
        self.onnx = model_dir / MODEL_FILE
        if not self.onnx.is_file():
            raise BackendError(
                f"{model_dir} has no {MODEL_FILE}: the onnx backends need the model prepared for them (the component "
                "exports it when backend is onnx or onnx-int8); this looks like a model prepared for the torch backend"
            )
        self.manifest: Optional[dict] = _read_json(model_dir / MANIFEST, "export manifest") if (model_dir / MANIFEST).is_file() else None
        tokenizer = model_dir / "tokenizer.json"
        if not tokenizer.is_file():
            raise BackendError(f"{model_dir} has no tokenizer.json (the fast tokenizer's file, which the onnx backends load)")
        self.tokenizer = tokenizer

        st_config = _read_json(model_dir / "sentence_bert_config.json", "max_seq_length") if (model_dir / "sentence_bert_config.json").is_file() else {}
        self.max_seq_length: Optional[int] = st_config.get("max_seq_length")
        self.do_lower_case = bool(st_config.get("do_lower_case", False))

        modules: List[dict] = _read_json(model_dir / "modules.json", "module list") if (model_dir / "modules.json").is_file() else []
        kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
        self.normalize = "Normalize" in kinds
        unsupported = [k for k in kinds if k not in ("Transformer", "Pooling", "Normalize")]
        if unsupported:
            raise BackendError(
                f"{model_dir}/modules.json has modules the onnx backends do not run: {', '.join(unsupported)}; "
                "use the torch backend for this model"
            )
        pooling_dir = next((m.get("path", "") for m in modules if str(m.get("type", "")).endswith("Pooling")), "1_Pooling")
        pooling = _read_json(model_dir / pooling_dir / "config.json", "pooling mode") if (model_dir / pooling_dir / "config.json").is_file() else {}
        self.pooling = _pooling_mode(pooling, model_dir / pooling_dir / "config.json")

        if self.max_seq_length is None:
            # sentence-transformers falls back to the tokenizer's / model's own limit.
            tok_config = _read_json(model_dir / "tokenizer_config.json", "model_max_length") if (model_dir / "tokenizer_config.json").is_file() else {}
            config = _read_json(model_dir / "config.json", "max_position_embeddings") if (model_dir / "config.json").is_file() else {}
            limits = [v for v in (tok_config.get("model_max_length"), config.get("max_position_embeddings")) if isinstance(v, int)]
            self.max_seq_length = min(limits) if limits else 512

    def check_variant(self, backend: str) -> None:
        if self.manifest is None:
            return  # a hand-made model directory: trust it
        prepared_for = self.manifest.get("backend")
        if prepared_for and prepared_for != backend:
            raise BackendError(
                f"the model in {self.dir} was prepared for MODEL_BACKEND={prepared_for!r}, but the function runs "
                f"MODEL_BACKEND={backend!r}; deploy the model artifact prepared for this backend"
            )


def _pooling_mode(config: dict, where: Path) -> str:
    if not config:
        return "mean"  # sentence-transformers' default
    modes = [name for name in ("mean", "cls", "max", "mean_sqrt_len", "weightedmean", "lasttoken")
             if config.get(f"pooling_mode_{name}_tokens") or config.get(f"pooling_mode_{name}_token")]
    mode = config.get("pooling_mode") or (modes[0] if len(modes) == 1 else None)
    if mode not in SUPPORTED_POOLING:
        raise BackendError(
            f"{where}: pooling {mode or '+'.join(modes) or 'unknown'} is not supported by the onnx backends "
            f"(supported: {', '.join(SUPPORTED_POOLING)}); use the torch backend for this model"
        )
    return mode


class OnnxBackend(Backend):
    name: ClassVar[str] = "onnx"

    def __init__(self, session, tokenizer, layout: ModelLayout, threads: int) -> None:
        self._session = session
        self._tokenizer = tokenizer
        self._layout = layout
        self.threads = threads
        self._input_names = [i.name for i in session.get_inputs()]
        unknown = [n for n in self._input_names if n not in ("input_ids", "attention_mask", "token_type_ids")]
        if unknown:
            raise BackendError(f"{layout.onnx} expects inputs this backend does not provide: {', '.join(unknown)}")
        self._dimension = int(session.get_outputs()[0].shape[-1])

    @classmethod
    def load(cls, model_dir: Path) -> "OnnxBackend":
        import onnxruntime as ort
        from tokenizers import Tokenizer

        layout = ModelLayout(Path(model_dir))
        layout.check_variant(cls.name)

        tokenizer = Tokenizer.from_file(str(layout.tokenizer))
        pad_token, pad_id = _pad_token(tokenizer, layout.dir)
        # tokenizer.json carries its own truncation/padding (all-MiniLM-L6-v2's: 128 tokens, fixed padding);
        # sentence-transformers replaces both: truncate at max_seq_length, pad to the batch's longest, on the right.
        tokenizer.no_truncation()
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=int(layout.max_seq_length))
        tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token, direction="right")

        threads = threads_from_env()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1  # one request at a time per environment: no parallel branches to feed
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # warnings about unused initializers etc. are noise in CloudWatch
        session = ort.InferenceSession(str(layout.onnx), sess_options=options, providers=["CPUExecutionProvider"])
        return cls(session, tokenizer, layout, threads)

    @property
    def dimension(self) -> int:
        return self._dimension

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        if self._layout.do_lower_case:
            texts = [t.lower() for t in texts]
        # Longest first, like sentence-transformers: similar lengths share a batch, so little padding is computed.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), self._dimension), dtype=np.float32)
        for start in range(0, len(texts), BATCH_SIZE):
            idx = order[start:start + BATCH_SIZE]
            out[idx] = self._encode_batch([texts[i] for i in idx])
        return out

    def _encode_batch(self, texts: List[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        feeds: Dict[str, np.ndarray] = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.asarray([e.type_ids for e in encodings], dtype=np.int64)
        hidden = self._session.run(None, {k: v for k, v in feeds.items() if k in self._input_names})[0]
        if self._layout.pooling == "cls":
            pooled = hidden[:, 0, :]
        else:
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


class OnnxInt8Backend(OnnxBackend):
    """The same code on the dynamically quantized graph (int8 weights for most MatMuls; see prepare_model.py)."""

    name: ClassVar[str] = "onnx-int8"


def _pad_token(tokenizer, model_dir: Path):
    """The padding token: tokenizer.json's own padding settings, else special_tokens_map.json, else [PAD]."""
    configured = tokenizer.padding
    if configured and configured.get("pad_token") is not None and configured.get("pad_id") is not None:
        return configured["pad_token"], int(configured["pad_id"])
    special = model_dir / "special_tokens_map.json"
    token = (_read_json(special, "pad token") if special.is_file() else {}).get("pad_token") or "[PAD]"
    if isinstance(token, dict):
        token = token.get("content") or "[PAD]"
    pad_id = tokenizer.token_to_id(token)
    if pad_id is None:
        raise BackendError(f"{model_dir}: the padding token {token!r} is not in the tokenizer's vocabulary")
    return token, int(pad_id)
