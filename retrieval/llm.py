"""Building the chat model from settings, through LangChain's `init_chat_model`.

`llm_model` is what `init_chat_model` takes: `openai:gpt-4o-mini`, `anthropic:claude-sonnet-4-5`,
`ollama:llama3.1`. Any OpenAI-compatible server (vLLM, llama.cpp, Ollama's `/v1`, LM Studio) is
`openai:<model name>` plus `llm_base_url`. Calls get a short timeout and at most one retry: a
slow or dead model must turn into the extractive fallback quickly, not a hung bot.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from retrieval.errors import LLMUnavailableError
from retrieval.settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

log = logging.getLogger(__name__)

ANSWER_MAX_TOKENS = 400
MAX_RETRIES = 1
# A local OpenAI-compatible server usually needs no key, but the OpenAI client insists on one.
_PLACEHOLDER_KEY = "not-needed"
_PACKAGES = {
    "openai": "langchain-openai",
    "anthropic": "langchain-anthropic",
    "ollama": "langchain-ollama",
}


def provider_of(settings: Settings) -> str:
    """Return the provider `llm_model` names ('openai' when only a base URL says so), or ''."""
    try:  # the same rules init_chat_model applies (private names: guarded)
        from langchain.chat_models.base import _BUILTIN_PROVIDERS as providers
        from langchain.chat_models.base import _attempt_infer_model_provider as infer
    except ImportError:  # pragma: no cover - a LangChain that renamed them
        providers, infer = _PACKAGES, lambda _name: None
    prefix, _, rest = settings.llm_model.partition(":")
    if rest and prefix in providers:
        return prefix
    inferred = infer(settings.llm_model)
    if inferred:
        return str(inferred)
    return "openai" if settings.llm_base_url else ""


def model_kwargs(settings: Settings, *, max_tokens: int = ANSWER_MAX_TOKENS) -> dict[str, Any]:
    """Return the keyword arguments `init_chat_model` gets for the configured provider."""
    provider = provider_of(settings)
    key = settings.llm_api_key.get_secret_value()
    kwargs: dict[str, Any] = {"temperature": settings.llm_temperature}
    if provider == "ollama":
        # ChatOllama names these differently and has no retry setting.
        kwargs["num_predict"] = max_tokens
        kwargs["client_kwargs"] = {"timeout": settings.llm_timeout}
        if settings.llm_base_url:
            kwargs["base_url"] = settings.llm_base_url
        return kwargs
    kwargs.update(timeout=settings.llm_timeout, max_retries=MAX_RETRIES, max_tokens=max_tokens)
    if settings.llm_base_url:
        kwargs["base_url"] = settings.llm_base_url
    if key:
        kwargs["api_key"] = key
    elif provider == "openai" and settings.llm_base_url:
        kwargs["api_key"] = _PLACEHOLDER_KEY
    return kwargs


def build_chat_model(
    settings: Settings, *, max_tokens: int = ANSWER_MAX_TOKENS, **overrides: Any
) -> BaseChatModel:
    """Return the chat model `settings.llm_model` names, configured with the base URL, key,
    timeout and temperature from `settings`; `overrides` go to the model's constructor as well
    (e.g. `http_async_client=` for ChatOpenAI). Nothing is contacted here.

    Raises LLMUnavailableError when `llm_model` is empty, names an unknown provider, or its
    LangChain package is not installed.
    """
    if not settings.llm_model:
        raise LLMUnavailableError("no chat model is configured (LLM_MODEL is empty)")
    from langchain.chat_models import init_chat_model

    provider = provider_of(settings)
    model = settings.llm_model
    if provider and model.startswith(f"{provider}:"):
        model = model[len(provider) + 1 :]
    try:
        kwargs = model_kwargs(settings, max_tokens=max_tokens) | overrides
        return init_chat_model(model, model_provider=provider or None, **kwargs)
    except ImportError as e:
        package = _PACKAGES.get(provider, f"the LangChain package for {provider or 'this provider'}")
        raise LLMUnavailableError(
            f"the chat model {settings.llm_model} needs {package}: pip install {package}"
        ) from e
    except Exception as e:  # unknown provider, missing key, bad option: all configuration errors
        raise LLMUnavailableError(
            f"the chat model {settings.llm_model} cannot be set up "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        ) from e
