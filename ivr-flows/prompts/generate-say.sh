#!/bin/sh
# Regenerates the say-item prompt sets (src/ivr/say.rs: digits, numbers,
# amounts, times, dates) in en/ and ja/, the demo customers' name prompts
# and the voicemail beep, with espeak-ng and sox as described in README.md.
# Run from this folder. Needs: apt-get install -y espeak-ng sox
#
# Japanese: espeak-ng's `ja` voice reads kana but not kanji (it spells
# kanji out as "Chinese letter"), so every Japanese text is hiragana, with
# the irregular readings written as said (さんびゃく, よじ, ついたち).
set -eu
tmp=/tmp/ivr-say-prompt.$$.wav
trap 'rm -f "$tmp"' EXIT

# render <voice> <out.wav> <text>: 8 kHz mono 16-bit, silence trimmed,
# short pads so that concatenated prompts read as one phrase.
render() {
    espeak-ng -v "$1" -s 150 -w "$tmp" "$3"
    sox "$tmp" -r 8000 -c 1 -b 16 "$2" norm -3 \
        silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse pad 0.02 0.06
}
en() { render en-us "en/$1.wav" "$2"; }
ja() { render ja "ja/$1.wav" "$2"; }

# ---- English -------------------------------------------------------------
# number-0 … number-19, the tens, the scale words (English digits
# `digit-*` are made by generate-demo-flow.sh's README recipe and exist).
set -- zero one two three four five six seven eight nine ten eleven twelve \
    thirteen fourteen fifteen sixteen seventeen eighteen nineteen
n=0
for word; do en "number-$n" "$word"; n=$((n + 1)); done
n=20
for word in twenty thirty forty fifty sixty seventy eighty ninety; do
    en "number-$n" "$word"; n=$((n + 10))
done
for word in hundred thousand million billion minus; do en "number-$word" "$word"; done
for word in dollar dollars cent cents and; do en "amount-$word" "$word"; done
en time-oh "oh"
en time-oclock "o'clock"
en time-am "a.m."
en time-pm "p.m."
en time-noon "noon"
en time-midnight "midnight"
n=1
for word in January February March April May June July August September \
    October November December; do
    en "date-month-$n" "$word"; n=$((n + 1))
done
n=1
for word in first second third fourth fifth sixth seventh eighth ninth tenth \
    eleventh twelfth thirteenth fourteenth fifteenth sixteenth seventeenth \
    eighteenth nineteenth twentieth twenty-first twenty-second twenty-third \
    twenty-fourth twenty-fifth twenty-sixth twenty-seventh twenty-eighth \
    twenty-ninth thirtieth thirty-first; do
    en "date-day-$n" "$word"; n=$((n + 1))
done
# The demo customers' names (src/customer seeds name_prompt with these).
en customer-hanako-yamada "Hanako Yamada"
en customer-john-smith "John Smith"

# ---- Japanese ------------------------------------------------------------
# Keys (the star is こめじるし, the pound key シャープ, as Japanese phone
# menus say them).
n=0
for word in ぜろ いち に さん よん ご ろく なな はち きゅう; do
    ja "digit-$n" "$word"; n=$((n + 1))
done
ja digit-star こめじるし
ja digit-pound しゃーぷ
ja digit-A えー
ja digit-B びー
ja digit-C しー
ja digit-D でぃー
# Numbers: each digit with its place, whole (さんびゃく, はっせん).
n=0
for word in ぜろ いち に さん よん ご ろく なな はち きゅう; do
    ja "number-$n" "$word"; n=$((n + 1))
done
n=10
for word in じゅう にじゅう さんじゅう よんじゅう ごじゅう ろくじゅう ななじゅう \
    はちじゅう きゅうじゅう; do
    ja "number-$n" "$word"; n=$((n + 10))
done
n=100
for word in ひゃく にひゃく さんびゃく よんひゃく ごひゃく ろっぴゃく ななひゃく \
    はっぴゃく きゅうひゃく; do
    ja "number-$n" "$word"; n=$((n + 100))
done
n=1000
for word in せん にせん さんぜん よんせん ごせん ろくせん ななせん はっせん \
    きゅうせん; do
    ja "number-$n" "$word"; n=$((n + 1000))
done
ja number-man まん
ja number-oku おく
ja number-minus まいなす
ja amount-yen えん
# Times: 午前/午後, 0–11時 (よじ, しちじ, くじ), 分 (いっぷん, さんぷん, じゅっぷん).
ja time-am ごぜん
ja time-pm ごご
n=0
for word in れいじ いちじ にじ さんじ よじ ごじ ろくじ しちじ はちじ くじ じゅうじ \
    じゅういちじ; do
    ja "time-hour-$n" "$word"; n=$((n + 1))
done
n=1
for word in いっぷん にふん さんぷん よんぷん ごふん ろっぷん ななふん はっぷん \
    きゅうふん じゅっぷん; do
    ja "time-minute-$n" "$word"; n=$((n + 1))
done
n=20
for word in にじゅっぷん さんじゅっぷん よんじゅっぷん ごじゅっぷん; do
    ja "time-minute-$n" "$word"; n=$((n + 10))
done
# Dates: 月 (しがつ, しちがつ, くがつ) and 日 (ついたち … とおか, じゅうよっか,
# はつか, にじゅうよっか).
n=1
for word in いちがつ にがつ さんがつ しがつ ごがつ ろくがつ しちがつ はちがつ くがつ \
    じゅうがつ じゅういちがつ じゅうにがつ; do
    ja "date-month-$n" "$word"; n=$((n + 1))
done
n=1
for word in ついたち ふつか みっか よっか いつか むいか なのか ようか ここのか とおか \
    じゅういちにち じゅうににち じゅうさんにち じゅうよっか じゅうごにち \
    じゅうろくにち じゅうしちにち じゅうはちにち じゅうくにち はつか \
    にじゅういちにち にじゅうににち にじゅうさんにち にじゅうよっか にじゅうごにち \
    にじゅうろくにち にじゅうしちにち にじゅうはちにち にじゅうくにち さんじゅうにち \
    さんじゅういちにち; do
    ja "date-day-$n" "$word"; n=$((n + 1))
done

# ---- The voicemail beep: 0.3 s of 1 kHz ----------------------------------
for language in en ja; do
    sox -n -r 8000 -c 1 -b 16 "$language/beep.wav" synth 0.3 sine 1000 vol 0.5
done

# ---- Queue announcements in Japanese (src/call/queue.rs) ------------------
# "あなたの順番は N 番目です。お待ち時間はおよそ M 分です。" in pieces around
# the numbers; the hold music is the English one (made by
# generate-demo-flow.sh), copied.
ja queue-position "あなたのじゅんばんは"
ja queue-wait "ばんめです。おまちじかんは、およそ"
ja queue-minutes "ふんです。おまたせして、もうしわけございません。"
ja queue-wait-short "ばんめです。まもなく、おつなぎします。"
cp en/hold-music.wav ja/hold-music.wav
