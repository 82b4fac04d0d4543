"""The `hf` rollout for verl 0.9.1 (`actor_rollout_ref.rollout.name=hf`): generation with
`transformers` in a Ray actor, for running verl's stock trainer where vLLM/SGLang cannot (a CPU).

Registered by `patches.verl_cpu`. Pieces: `HFReplica` (verl's RolloutReplica: starts one
`HFRolloutServer` actor per replica), `HFRolloutServer` (batches the concurrent per-sample requests
of verl's agent loop into `model.generate` calls, returns token ids and log-probs), and
`HFServerAdapter` (verl's BaseRollout inside each training worker: sends the trained weights to the
server after every step).
"""

# verl first: a Ray actor that unpickles a class from here imports this module before anything
# else, and `import verl` loads the platform plugin (patches.verl_cpu) before any verl module asks
# for the platform.
import verl  # noqa: F401  isort: skip

import asyncio
import os
import threading

import ray
import torch
from verl.workers.rollout.base import BaseRollout
from verl.workers.rollout.replica import RolloutReplica, TokenOutput

HF_SERVER_NAME = "redit_hf_rollout_{}"  # one named Ray actor per rollout replica


class HFRolloutServer:
    """A Ray actor serving verl's token-in/token-out `generate` with `transformers`.

    Requests arriving together (the agent loop sends one per sample, concurrently) are batched with
    left padding; rows with the same sampling parameters share one `model.generate` call.
    """

    def __init__(self, config, model_config, replica_rank: int = 0):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(int(os.environ.get("REDIT_ROLLOUT_THREADS", "1")))
        path = getattr(model_config, "local_path", None) or model_config.path
        self.config = config
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        self.eos_ids = {i for i in [self.tokenizer.eos_token_id, *_as_list(self.model.generation_config.eos_token_id)] if i is not None}
        self.max_len = int(config.prompt_length) + int(config.response_length)
        torch.manual_seed(int(getattr(config, "seed", 0) or 0) + 1000 * replica_rank)
        self.model_lock = threading.Lock()
        self.pending: list = []
        self.drainer: asyncio.Task | None = None
        self.weight_version = 0

    async def generate(self, request_id, prompt_ids, sampling_params, image_data=None, video_data=None, **kwargs):
        if image_data or video_data:
            raise NotImplementedError("the hf rollout is text-only; use vllm or sglang for vision-language models.")
        future = asyncio.get_running_loop().create_future()
        self.pending.append((list(prompt_ids), dict(sampling_params), future))
        if self.drainer is None or self.drainer.done():
            self.drainer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self):
        while self.pending:
            await asyncio.sleep(0.01)  # let the concurrent requests of one step queue up
            batch, self.pending = self.pending, []
            groups: dict = {}
            for item in batch:
                groups.setdefault(tuple(sorted(item[1].items())), []).append(item)
            for items in groups.values():
                try:
                    outputs = await asyncio.to_thread(self._generate_batch, [i[0] for i in items], items[0][1])
                    for (_, _, future), output in zip(items, outputs):
                        future.set_result(output)
                except Exception as error:  # hand the error to every waiting request
                    for _, _, future in items:
                        if not future.done():
                            future.set_exception(error)

    @torch.no_grad()
    def _generate_batch(self, prompts: list[list[int]], params: dict):
        temperature = float(params.get("temperature", 1.0) or 0.0)
        width = max(len(p) for p in prompts)
        max_new = int(params.get("max_tokens") or params.get("max_new_tokens") or self.config.response_length)
        max_new = max(1, min(max_new, self.max_len - width))
        input_ids = torch.tensor([[self.pad_id] * (width - len(p)) + p for p in prompts])
        attention_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        sample = temperature > 0
        top_k = int(params.get("top_k", -1) or -1)
        with self.model_lock:
            out = self.model.generate(
                input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=max_new, do_sample=sample,
                temperature=temperature if sample else None, top_p=float(params.get("top_p", 1.0)) if sample else None,
                top_k=(top_k if top_k > 0 else 0) if sample else None, pad_token_id=self.pad_id,
                eos_token_id=sorted(self.eos_ids), output_logits=True, return_dict_in_generate=True)
        tokens = out.sequences[:, width:]
        logits = torch.stack(out.logits, dim=1).float()
        logprobs = torch.log_softmax(logits / temperature if sample else logits, dim=-1)
        logprobs = logprobs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
        results = []
        for row, row_lp in zip(tokens.tolist(), logprobs.tolist()):
            end = next((i + 1 for i, t in enumerate(row) if t in self.eos_ids), len(row))  # keep the eos token
            stop = "completed" if end < len(row) or row[end - 1] in self.eos_ids else "length"
            results.append(TokenOutput(token_ids=row[:end], log_probs=row_lp[:end], stop_reason=stop,
                                       extra_fields={"global_steps": self.weight_version}))
        return results

    def load_weights(self, named_tensors: dict, global_steps=None):
        with self.model_lock:
            missing, unexpected = self.model.load_state_dict(named_tensors, strict=False)
        tied = set(getattr(self.model, "_tied_weights_keys", None) or []) | {"lm_head.weight"}
        if unexpected or set(missing) - tied:
            raise RuntimeError(f"hf rollout: weight names do not match the model (missing {sorted(missing)[:5]}, "
                               f"unexpected {sorted(unexpected)[:5]}).")
        self.weight_version = int(global_steps or self.weight_version + 1)
        return len(named_tensors)

    # The lifecycle calls verl makes on every rollout server; nothing to free or pause on a CPU.
    async def wake_up(self): pass
    async def sleep(self): pass
    async def clear_kv_cache(self): pass
    async def release_kv_cache(self): pass
    async def resume_kv_cache(self): pass
    async def resume_generation(self): pass
    async def start_profile(self, **kwargs): pass
    async def stop_profile(self): pass

    async def abort_all_requests(self, reject_request: bool = False):
        return {"aborted_count": 0, "request_ids": []}


def _as_list(value):
    return value if isinstance(value, (list, tuple)) else [value]


class HFReplica(RolloutReplica):
    """One `HFRolloutServer` actor per replica, beside verl's hybrid training workers."""

    async def launch_servers(self):
        name = HF_SERVER_NAME.format(self.replica_rank)
        server = ray.remote(HFRolloutServer).options(
            name=name, num_cpus=0, max_concurrency=self.max_concurrency,
        ).remote(config=self.config, model_config=self.model_config, replica_rank=self.replica_rank)
        await server.__ray_ready__.remote()
        self.servers = [server]
        self._server_handle = server
        self._server_address = name

    def rollout_worker_use_gpu(self) -> bool:
        return False

class HFServerAdapter(BaseRollout):
    """Lives in each training worker; forwards the trained weights to its replica's server."""

    async def resume(self, tags):
        pass

    async def release(self):
        pass

    async def update_weights(self, weights, wire_format="named_tensors", global_steps=None, **kwargs):
        if wire_format != "named_tensors":
            raise NotImplementedError(f"the hf rollout takes full named tensors, not {wire_format!r}.")
        # Consume the generator on every rank: it all-gathers FSDP shards (a collective).
        tensors = {name: t.detach().to("cpu", torch.float32).clone() for name, t in weights}
        rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
        per_replica = self.config.tensor_model_parallel_size * self.config.data_parallel_size * self.config.pipeline_model_parallel_size
        if rank % per_replica == 0:
            server = ray.get_actor(HF_SERVER_NAME.format(rank // per_replica))
            await server.load_weights.remote(tensors, global_steps)
