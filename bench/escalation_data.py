"""Scripted conversations for bench/escalation_bench.py: calm and frustrated callers of the
shipped support lines, in English (support_line.yaml) and Mandarin (zh_support_line.yaml).

Written for the benchmark after the frustration weights were set (voicebot/dialog/frustration.py
was tuned on the flows' own tests, dialog_flows/*_escalation.test.yaml); none of these was used
to set anything. A conversation is the caller's turns in order: text is said, `keys:123` is
keyed, `...` is silence (the no-input timer runs out). In a frustrated conversation the first
turn that shows the mood starts with `!` (the cue the hand-off time is counted from). The
callers are written as people talk to a support line: calm ones stumble too (an unclear number,
"hmm", "no", a complaint about the bill said calmly), frustrated ones are not all rude.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Conversation:
    name: str
    language: str  # en | zh-CN
    frustrated: bool
    turns: tuple[str, ...]

    @property
    def cue(self) -> int | None:
        """Index of the first turn showing frustration (frustrated conversations)."""
        return next((i for i, t in enumerate(self.turns) if t.startswith("!")), None)


def _c(name: str, language: str, frustrated: bool, *turns: str) -> Conversation:
    return Conversation(name, language, frustrated, turns)


EN_FRUSTRATED = [
    _c(
        "told you twice",
        "en",
        True,
        "my balance please",
        "it's the number on my letter",
        "!I already told you, it's on the letter",
        "this is ridiculous",
    ),
    _c(
        "not listening",
        "en",
        True,
        "balance",
        "uh the one ending in four",
        "!you're not listening to me",
        "one two three",
    ),
    _c(
        "waste of time",
        "en",
        True,
        "I want to know why my bill is so high",
        "!this is a waste of my time",
        "why is this so complicated",
    ),
    _c(
        "silent then angry",
        "en",
        True,
        "...",
        "!hello? is anybody there? this is terrible",
        "I just want to talk to someone",
    ),
    _c(
        "swears at the number",
        "en",
        True,
        "balance",
        "!damn it, I don't have the stupid number",
        "I said I don't have it",
    ),
    _c(
        "repeats the question",
        "en",
        True,
        "how much do I owe",
        "I don't know the account number",
        "!how many times do I have to say it",
        "I don't know it",
    ),
    _c("fed up with the menu", "en", True, "!I'm fed up with these menus", "give me a real person"),
    _c(
        "complains about being cut off",
        "en",
        True,
        "billing",
        "something else",
        "!I want to complain, nobody ever helps me here",
        "this doesn't work",
    ),
    _c(
        "the machine doesn't understand",
        "en",
        True,
        "I was charged twice",
        "twice, for the same month",
        "!you don't understand anything",
        "useless",
    ),
    _c(
        "sick of it",
        "en",
        True,
        "my balance",
        "!I'm sick of this, I've called three times today",
        "it's one two three",
    ),
    _c(
        "keys that don't work",
        "en",
        True,
        "balance",
        "keys:123",
        "!why isn't this working, I pressed the numbers",
        "keys:45",
    ),
    _c(
        "frustrated without rude words",
        "en",
        True,
        "my balance please",
        "I gave it already",
        "!I already gave it to you",
        "I already gave it",
    ),
]

EN_CALM = [
    _c(
        "balance by voice",
        "en",
        False,
        "my balance please",
        "one two three four five six seven eight",
        "no thanks",
    ),
    _c("balance by keys", "en", False, "keys:1", "keys:12345678", "keys:2"),
    _c(
        "unsure at first",
        "en",
        False,
        "balance",
        "hmm let me find it",
        "one two three four five six seven eight",
        "no",
    ),
    _c(
        "silent once",
        "en",
        False,
        "...",
        "balance please",
        "one two three four five six seven eight",
        "no that's all",
    ),
    _c(
        "calm complaint about the bill",
        "en",
        False,
        "I think there is a wrong charge on my invoice",
        "dispute",
    ),
    _c("how to pay", "en", False, "billing", "payment", "no thank you"),
    _c("asks for an agent politely", "en", False, "could I speak to an agent please"),
    _c(
        "says no a lot",
        "en",
        False,
        "balance",
        "one two three four five six seven eight",
        "no, nothing else, thanks",
    ),
    _c(
        "wrong account then right",
        "en",
        False,
        "how much do I owe",
        "eight seven six five four three two one",
        "one two three four five six seven eight",
        "no",
    ),
    _c(
        "sad news, calm",
        "en",
        False,
        "unfortunately I lost my job, what's my balance",
        "one two three four five six seven eight",
        "no thanks",
    ),
    _c(
        "question first",
        "en",
        False,
        "can I use my phone abroad",
        "balance",
        "one two three four five six seven eight",
        "no",
    ),
    _c(
        "sorry, didn't catch it",
        "en",
        False,
        "sorry, I didn't catch that, balance",
        "one two three four five six seven eight",
        "nope",
    ),
]

ZH_FRUSTRATED = [
    _c(
        "说了好几遍",
        "zh-CN",
        True,
        "我想查一下话费",
        "就是我的手机号",
        "!我都说了好几遍了",
        "你到底听不听得懂",
    ),
    _c("听不懂", "zh-CN", True, "话费", "号码我记不清了", "!你怎么听不懂啊", "算了"),
    _c("投诉", "zh-CN", True, "!我要投诉你们", "你们这个服务太差了"),
    _c("浪费时间", "zh-CN", True, "套餐", "我不知道号码", "!真是浪费时间", "烦死了"),
    _c("没人说话", "zh-CN", True, "...", "!喂？有人吗？搞什么", "我要找人"),
    _c("骂人", "zh-CN", True, "话费", "!他妈的，又听不清", "幺三八"),
    _c("机器人没用", "zh-CN", True, "!我不要机器人，你们这个没用", "转人工"),
    _c(
        "到底怎么回事",
        "zh-CN",
        True,
        "我这个月话费怎么这么多",
        "上个月的",
        "!到底怎么回事",
        "我说了上个月",
    ),
    _c("太慢了", "zh-CN", True, "查话费", "一三八", "!太慢了，受不了", "一三八零"),
    _c("别再问了", "zh-CN", True, "话费", "我不记得", "!别再问了", "我不记得"),
    _c("按键没用", "zh-CN", True, "话费", "keys:138", "!按了半天都没用，什么破系统", "keys:00"),
    _c("有完没完", "zh-CN", True, "换套餐", "我的号码", "!有完没完啊", "你听我说"),
]

ZH_CALM = [
    _c("查话费", "zh-CN", False, "我想查一下话费", "幺三八零零幺三八零零零", "不用了，谢谢"),
    _c("按键查话费", "zh-CN", False, "keys:1", "keys:13800138000#", "keys:2"),
    _c("想一想", "zh-CN", False, "话费", "嗯，等一下", "幺三八零零幺三八零零零", "不用了"),
    _c("没说话一次", "zh-CN", False, "...", "话费", "幺三八零零幺三八零零零", "没有了"),
    _c(
        "换套餐",
        "zh-CN",
        False,
        "我想换个套餐",
        "幺三八零零幺三八零零零",
        "五十八的",
        "是",
        "不用了",
    ),
    _c("客气地找人工", "zh-CN", False, "麻烦帮我转一下人工，谢谢"),
    _c("不需要", "zh-CN", False, "话费", "幺三八零零幺三八零零零", "不需要了"),
    _c(
        "号码说错了",
        "zh-CN",
        False,
        "查话费",
        "幺三九零零幺三九零零零",
        "幺三八零零幺三八零零零",
        "不用了",
    ),
    _c(
        "平静地说贵",
        "zh-CN",
        False,
        "现在的套餐太贵了，想换一个",
        "幺三八零零幺三八零零零",
        "三十八的",
        "是的",
        "没有了",
    ),
    _c("不办理", "zh-CN", False, "套餐", "幺三八零零幺三八零零零", "第二个", "不用了", "不用了"),
    _c("先问问题", "zh-CN", False, "营业厅几点关门", "话费", "幺三八零零幺三八零零零", "不用了"),
    _c(
        "不好意思没听清",
        "zh-CN",
        False,
        "不好意思，刚才没听清，查话费",
        "幺三八零零幺三八零零零",
        "不用了谢谢",
    ),
]

CONVERSATIONS = EN_FRUSTRATED + EN_CALM + ZH_FRUSTRATED + ZH_CALM
