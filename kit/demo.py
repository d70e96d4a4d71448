"""A generated demo competition in exactly the real files' layout, so the whole kit runs without the real data.

`make_demo` writes nCoV_100k_train.labled.csv, nCov_10k_test.csv and nCoV_900k_train.unlabled.csv as the
competition shipped them: GB18030, CRLF, the same header, 16-digit ids starting 445/446/447 that grow with the
post's time ("01月01日 23:38"), image lists "['https://ww2.sinaimg.cn/...jpg']" or "[]", videos "[]", and a trailing
space on every test id. Posts are composed from a COVID topic, sentiment cues (phrases and emoticons, some in
traditional characters) and Weibo clutter (#hashtags#, @mentions, 回复@name:, http://t.cn links, 网页链接,
转发微博, 展开全文 tails, repeated and full-width punctuation, quotes, commas and newlines inside texts).

The label signal is learnable but not trivial: a post's cues mostly, not always, match its label, some posts say
"虽然 <opposite cue>，但是 <own cue>" (the clause order matters, which a bag of n-grams cannot see), and
LABEL_NOISE of the labels are flipped. Class balance follows the real training data (0 ≈ 58%, 1 ≈ 26%, -1 ≈ 16%).

The real files' noise is injected in known amounts (NOISE), so tests can check that ingest counts each of them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kit.artifacts import atomic_write_bytes
from kit.config import COMPETITION_FILES, DEFAULT_CLASSES
from kit.data_settings import Columns

FILES = COMPETITION_FILES
HEADER = (Columns().id, "微博发布时间", "发布人账号", Columns().text, "微博图片", "微博视频")
LABEL_COLUMN = Columns().label

LABELS = DEFAULT_CLASSES
CLASS_SHARE = (0.16, 0.58, 0.26)  # the real training data: -1 = 16.7%, 0 = 57.7%, 1 = 25.7%
LABEL_NOISE = 0.12  # share of labels flipped to another class: real annotations disagree about this often
# Posts are written for these shares so that, after the flips (each to one of the two other classes), the
# annotated labels have CLASS_SHARE: share = intended * (1 - noise) + (1 - intended) * noise / 2.
INTENDED_SHARE = tuple((np.array(CLASS_SHARE) - LABEL_NOISE / 2) / (1 - 1.5 * LABEL_NOISE))
CUE_MATCHES_LABEL = 0.8  # chance that a sentiment cue of a -1 / 1 post has the post's polarity
NEUTRAL_CUE_SENTIMENT = 0.3  # chance that a cue of a 0 post carries some sentiment anyway
CONTRAST_SHARE = 0.4  # share of -1 / 1 posts written "虽然 <opposite>，但是 <own>": only word order tells them
# Words around each cue of a contrast, drawn alike for both clauses, so that no character n-gram next to a cue tells
# whether it follows 虽然 or 但是: a model must read the order to get these posts right.
CONTRAST_FILLERS = ("说实话", "我觉得", "真的", "真心觉得", "不得不说", "怎么说呢", "其实")
CONTRAST_ENDINGS = ("啊", "吧", "呢", "哎", "嘛", "呀")

# Noise of the real files, written in these amounts (rows) whatever the sizes; tests compare ingest's report with it.
INVALID_LABELS = ("-", "·", "4", "10", "", "武汉加油")  # label values seen in the real train file
NOISE = {
    "train": {
        "invalid_label": len(INVALID_LABELS),
        "empty_text": 3,
        "duplicate_id_identical": 3,  # a row copied whole under its own id
        "duplicate_id_conflicting": 2,  # a row copied under its own id with another label
        "duplicate_text_agreeing": 3,  # a text posted again under a new id, same label
        "duplicate_text_conflicting": 2,  # a text posted again under a new id, another label
    },
    "test": {"empty_text": 4, "undecodable_bytes": 2},  # both undecodable bytes go into one row, as in the real file
    "unlabeled": {"empty_text": 2, "duplicate_id_identical": 2},
}
UNDECODABLE_BYTE = b"\x80"  # invalid as a GB18030 lead byte, like the real test file's
_UNDECODABLE_PLACEHOLDER = "\ufdd1"  # written into a text, then its GB18030 bytes are swapped for UNDECODABLE_BYTE

FIRST_ID = 4456000000000000  # real ids run from 4456... (1 Jan 2020) to 4473... (20 Feb 2020)
ID_STEP_PER_MINUTE = 232_000_000  # (4473... - 4456...) / the competition's 51 days in minutes
N_MINUTES = 51 * 24 * 60

TOPICS = (
    "武汉封城第{n}天",
    "今天小区开始封闭管理，每户两天只能出去一个人买菜",
    "钟南山院士说新型冠状病毒肯定人传人",
    "全国累计确诊病例{big}例",
    "湖北新增确诊病例{big}例，新增死亡病例{n}例",
    "出门一定要戴口罩，勤洗手",
    "跑了三家药店口罩都卖光了",
    "火神山医院今天正式交付使用",
    "雷神山医院开始收治患者",
    "在家隔离的第{n}天，每天就是吃饭睡觉刷微博",
    "社区工作人员上门给我们测体温",
    "春节假期延长到2月{n}日",
    "各地医疗队陆续驰援武汉",
    "方舱医院正式启用",
    "超市的蔬菜一早就被抢光了",
    "学校延迟开学，网课明天开始",
    "快递小哥还在坚持送货",
    "李文亮医生走了",
    "听说双黄连口服液能抑制病毒，药店门口排起了长队",
    "明天就要复工了",
    "除夕夜医疗队出发去武汉",
    "我们村口的路被挖断了",
    "口罩涨到了{n}块钱一个",
    "今年春节哪儿也去不了",
    "爸妈终于同意不出门拜年了",
    "下楼扔个垃圾都戴了两层口罩",
    "小区门口贴了告示，外来人员一律不得进入",
    "国家卫健委发布了最新的诊疗方案",
    "朋友圈都在转发居家隔离指南",
    "公司通知在家远程办公",
)
POSITIVE = (
    "武汉加油！",
    "中国加油",
    "致敬最美逆行者",
    "感谢所有医护人员",
    "看哭了，太感动了",
    "一定能打赢这场疫情防控阻击战",
    "希望疫情早日结束，春暖花开",
    "相信国家，我们一定会胜利",
    "愿大家都平平安安的",
    "辛苦了，谢谢你们",
    "太暖心了",
    "众志成城，共渡难关",
    "醫護人員 加油",
    "武漢加油，中國加油",
    "好消息！治愈出院的越来越多了",
    "为白衣天使点赞",
    "在家陪家人也挺开心的",
    "等疫情过去了一起去看樱花",
)
NEGATIVE = (
    "太可怕了",
    "心疼武汉",
    "真的好害怕",
    "气死我了",
    "心里特别难受",
    "每天都很焦虑，睡不着",
    "什么时候是个头啊",
    "这些人太自私了",
    "红十字会太让人寒心了",
    "无语了",
    "还在聚餐打麻将，简直让人愤怒",
    "绝望",
    "看得眼泪都下来了，太惨了",
    "口罩都买不到，心态崩了",
    "隱瞞疫情的人應該嚴懲",
    "憋在家里快疯了",
    "家里老人发烧了，好担心",
    "太难了",
)
NEUTRAL = (
    "据报道",
    "提醒大家注意防护",
    "相关信息如下",
    "具体情况请看通知",
    "分享一下",
    "来源：人民日报",
    "记录一下",
    "最新消息",
    "以下是官方公布的数据",
    "大家可以参考一下",
    "有没有人知道怎么回事",
    "附上防护指南",
)
EMOTICONS = {
    "1": ("[加油]", "[心]", "[哈哈]", "[赞]", "[给力]", "[鼓掌]", "[抱抱]", "[爱你]"),
    "-1": ("[泪]", "[怒]", "[伤心]", "[哭]", "[衰]", "[抓狂]", "[怒骂]"),
    "0": ("[doge]", "[允悲]", "[吃瓜]", "[思考]", "[并不简单]"),
}
CUES = {"1": POSITIVE, "-1": NEGATIVE, "0": NEUTRAL}
OPPOSITE = {"1": "-1", "-1": "1"}

HASHTAGS = (
    "#新型冠状病毒#",
    "#武汉加油#",
    "#抗击新型肺炎我们在行动#",
    "#肺炎疫情#",
    "#你好2020#",
    "#钟南山说新型肺炎人传人#",
    "#全国确诊新型肺炎病例#",
)
HEADLINES = ("【疫情防控最新通报】", "【紧急扩散】", "【好消息】", "【转需】", "【官方辟谣】")
ACCOUNTS = ("人民日报", "央视新闻", "头条新闻", "武汉发布", "健康中国", "新浪新闻", "小仙女今天吃什么", "Lynn_2020")
NICK_HEADS = ("小", "大", "阿", "胖", "爱吃", "会飞的", "-玲珑的", "momo", "liu", "Sunny")
NICK_TAILS = ("鱼", "猫", "橙子", "兔兔", "熊", "公主", "junyi", "ablsa", "Lynn", "呀")
SEPARATORS = ("，", "。", "！", "！！！", "……", " ", "？？？", "~", ",", "\n")
TAILS = (
    " http://t.cn/A6{code}",
    " 网页链接",
    "?展开全文c",
    "...展开全文",
    "//@{account}:转发微博",
    " 转发微博",
    "?",
)
IMAGE_SIZES = ("thumb150", "orj360", "large")
_ALPHANUMERIC = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789"))


def _pick(rng: np.random.Generator, options):
    return options[rng.integers(len(options))]


def _code(rng: np.random.Generator, length: int) -> str:
    return "".join(rng.choice(_ALPHANUMERIC, size=length))


def _cue(rng: np.random.Generator, label: str) -> str:
    """A sentiment cue whose polarity matches label most of the time."""
    if label == "0":
        polarity = _pick(rng, ("1", "-1")) if rng.random() < NEUTRAL_CUE_SENTIMENT else "0"
    else:
        polarity = label if rng.random() < CUE_MATCHES_LABEL else _pick(rng, (OPPOSITE[label], "0"))
    return _pick(rng, CUES[polarity])


def _contrast(rng: np.random.Generator, label: str) -> str:
    """'虽然 <cue of the opposite polarity>，但是 <cue of label>', each cue inside a filler and an ending."""
    conceded, meant = (
        f"{_pick(rng, CONTRAST_FILLERS)}{_pick(rng, CUES[polarity]).rstrip('！')}{_pick(rng, CONTRAST_ENDINGS)}"
        for polarity in (OPPOSITE[label], label)
    )
    return f"虽然{conceded}，但是{meant}"


def _post(rng: np.random.Generator, label: str) -> str:
    """One Weibo post whose sentiment cues follow label (before label noise)."""
    prefix = _pick(rng, HASHTAGS) if rng.random() < 0.3 else ""
    if rng.random() < 0.1:
        prefix += _pick(rng, ("回复@{account}:", "@{account} ", "{headline}"))
    parts = [_pick(rng, TOPICS)]
    if label != "0" and rng.random() < CONTRAST_SHARE:
        parts.append(_contrast(rng, label))
    else:
        parts.extend(dict.fromkeys(_cue(rng, label) for _ in range(1 + (rng.random() < 0.4))))
    if rng.random() < 0.05:
        parts.append(f"“{_pick(rng, TOPICS)}”")
    text = prefix + parts[0]
    for part in parts[1:]:
        text += _pick(rng, SEPARATORS) + part
    if rng.random() < 0.35:
        polarity = label if rng.random() < CUE_MATCHES_LABEL else _pick(rng, LABELS)
        text += _pick(rng, EMOTICONS[polarity]) * int(rng.integers(1, 4))
    if rng.random() < 0.3:
        text += _pick(rng, TAILS)
    if rng.random() < 0.02:
        text = text.replace("“", '"').replace("”", '"')  # ASCII quotes, which the CSV writer must escape
    return text.format(
        n=int(rng.integers(2, 30)),
        big=int(rng.integers(100, 40000)),
        code=_code(rng, 5),
        account=_pick(rng, ACCOUNTS),
        headline=_pick(rng, HEADLINES),
    )


def _posts(rng: np.random.Generator, labels: list[str], taken: set[str]) -> list[str]:
    """Distinct posts for labels (none in taken, which grows), so that every duplicate in the demo is injected."""
    texts = []
    for label in labels:
        text = _post(rng, label)
        while text in taken:
            text = _post(rng, label)
        taken.add(text)
        texts.append(text)
    return texts


def _labels(rng: np.random.Generator, n: int) -> tuple[list[str], list[str]]:
    """(labels the posts are written for, labels as annotated: LABEL_NOISE of them flipped), each [n]."""
    intended = rng.choice(LABELS, size=n, p=INTENDED_SHARE)
    flipped = rng.random(n) < LABEL_NOISE
    other = np.array([_pick(rng, [c for c in LABELS if c != label]) for label in intended])
    return [str(c) for c in intended], [str(c) for c in np.where(flipped, other, intended)]


def _images(rng: np.random.Generator) -> str:
    if rng.random() < 0.6:
        return "[]"
    urls = [
        f"https://ww{rng.integers(1, 5)}.sinaimg.cn/{_pick(rng, IMAGE_SIZES)}/{_code(rng, 8)}ly1g{_code(rng, 24)}.jpg"
        for _ in range(int(rng.integers(1, 5)))
    ]
    return str(urls)  # the real files hold Python's repr of the list


def _table(rng: np.random.Generator, ids: np.ndarray, texts: list[str]) -> pd.DataFrame:
    """The six common columns for sorted ids [n] and their texts [n]."""
    minutes = (ids - FIRST_ID) // ID_STEP_PER_MINUTE
    days, minute_of_day = np.divmod(minutes, 24 * 60)
    months = np.where(days < 31, 1, 2)
    month_days = np.where(days < 31, days + 1, days - 30)
    times = [f"{m:02d}月{d:02d}日 {t // 60:02d}:{t % 60:02d}" for m, d, t in zip(months, month_days, minute_of_day)]
    users = [
        f"{_pick(rng, NICK_HEADS)}{_pick(rng, NICK_TAILS)}{rng.integers(100) if rng.random() < 0.5 else ''}"
        for _ in ids
    ]
    return pd.DataFrame(
        {
            HEADER[0]: [str(i) for i in ids],
            HEADER[1]: times,
            HEADER[2]: users,
            HEADER[3]: texts,
            HEADER[4]: [_images(rng) for _ in ids],
            HEADER[5]: "[]",
        }
    )


def _inject_train_noise(rng: np.random.Generator, frame: pd.DataFrame) -> pd.DataFrame:
    """Overwrite disjoint rows of the train frame with NOISE['train'] (row count unchanged)."""
    noise = NOISE["train"]
    n_copies = sum(noise[key] for key in noise if key.startswith("duplicate_"))  # each takes a source and a target
    n_rows = noise["invalid_label"] + noise["empty_text"] + 2 * n_copies
    rows = iter(rng.choice(len(frame), size=n_rows, replace=False))
    frame = frame.copy()
    text, label = HEADER[3], LABEL_COLUMN
    for value in INVALID_LABELS:
        frame.loc[next(rows), label] = value
    for _ in range(noise["empty_text"]):
        frame.loc[next(rows), text] = ""

    def copy(columns: list[str], relabel: bool) -> None:
        """Copy columns of a source row onto a target row; relabel: then give the target another label."""
        source, target = next(rows), next(rows)
        frame.loc[target, columns] = frame.loc[source, columns].to_numpy()
        if relabel:
            frame.loc[target, label] = _pick(rng, [c for c in LABELS if c != frame.loc[source, label]])

    whole_row = list(frame.columns)
    for _ in range(noise["duplicate_id_identical"]):
        copy(whole_row, relabel=False)
    for _ in range(noise["duplicate_id_conflicting"]):
        copy(whole_row, relabel=True)
    for _ in range(noise["duplicate_text_agreeing"]):
        copy([text, label], relabel=False)
    for _ in range(noise["duplicate_text_conflicting"]):
        copy([text], relabel=True)
    return frame


def _inject_unlabeled_noise(rng: np.random.Generator, frame: pd.DataFrame) -> pd.DataFrame:
    noise = NOISE["unlabeled"]
    rows = iter(rng.choice(len(frame), size=noise["empty_text"] + 2 * noise["duplicate_id_identical"], replace=False))
    frame = frame.copy()
    for _ in range(noise["empty_text"]):
        frame.loc[next(rows), HEADER[3]] = ""
    for _ in range(noise["duplicate_id_identical"]):
        source, target = next(rows), next(rows)
        frame.loc[target] = frame.loc[source]
    return frame


def _inject_test_noise(rng: np.random.Generator, frame: pd.DataFrame) -> pd.DataFrame:
    """Empty texts, an undecodable-byte placeholder in one text, and a trailing space on every id (as the real file)."""
    noise = NOISE["test"]
    rows = rng.choice(len(frame), size=noise["empty_text"] + 1, replace=False)
    frame = frame.copy()
    frame.loc[rows[:-1], HEADER[3]] = ""
    code = _code(rng, 10)
    frame.loc[rows[-1], HEADER[3]] += f"复制这段话{_UNDECODABLE_PLACEHOLDER}{code}{_UNDECODABLE_PLACEHOLDER}后打开手机淘宝"
    frame[HEADER[0]] = frame[HEADER[0]] + " "
    return frame


def write_competition_csv(frame: pd.DataFrame, path: Path) -> None:
    """GB18030 with CRLF line ends, as the competition's files; placeholders become raw undecodable bytes."""
    payload = frame.to_csv(index=False, lineterminator="\r\n").encode("gb18030")
    atomic_write_bytes(path, payload.replace(_UNDECODABLE_PLACEHOLDER.encode("gb18030"), UNDECODABLE_BYTE))


def make_demo(
    folder, n_train: int = 4000, n_test: int = 1000, n_unlabeled: int = 4000, seed: int = 0
) -> dict[str, Path]:
    """Write the three demo files into folder under the competition's file names; return their paths by split.

    Deterministic for a seed. Example: `make_demo("data/demo", n_train=400, n_test=100, n_unlabeled=400)`.
    """
    paths = {split: Path(folder) / FILES[split] for split in FILES}
    write_demo(paths, n_train=n_train, n_test=n_test, n_unlabeled=n_unlabeled, seed=seed)
    return paths


def write_demo(paths, n_train: int = 4000, n_test: int = 1000, n_unlabeled: int = 4000, seed: int = 0) -> None:
    """Write the demo's 'train', 'test' and 'unlabeled' files to the paths given by split; deterministic for a seed."""
    if min(n_train, n_test, n_unlabeled) < 50:
        raise ValueError("the demo needs at least 50 rows per split to hold the injected noise")
    rng = np.random.default_rng(seed)
    sizes = {"train": n_train, "test": n_test, "unlabeled": n_unlabeled}
    all_ids = FIRST_ID + rng.choice(N_MINUTES * ID_STEP_PER_MINUTE, size=sum(sizes.values()), replace=False)
    bounds = np.cumsum([0, *sizes.values()])
    taken: set[str] = set()
    frames = {}
    for (split, n), start, stop in zip(sizes.items(), bounds[:-1], bounds[1:]):
        ids = np.sort(all_ids[start:stop])
        intended, annotated = _labels(rng, n)
        frame = _table(rng, ids, _posts(rng, intended, taken))
        if split == "train":
            frame[LABEL_COLUMN] = annotated
        frames[split] = frame
    frames["train"] = _inject_train_noise(rng, frames["train"])
    frames["test"] = _inject_test_noise(rng, frames["test"])
    frames["unlabeled"] = _inject_unlabeled_noise(rng, frames["unlabeled"])
    for split, frame in frames.items():
        write_competition_csv(frame, Path(paths[split]))
