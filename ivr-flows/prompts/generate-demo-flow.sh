#!/bin/sh
# Regenerates the English prompts of the demo IVR flow (ivr-flows/demo.toml)
# with espeak-ng and sox, as described in README.md. Run from this folder.
set -eu
gen() {
    espeak-ng -v en-us -s 150 -w /tmp/ivr-prompt.wav "$2"
    sox /tmp/ivr-prompt.wav -r 8000 -c 1 -b 16 "en/$1.wav" norm -3 \
        silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse pad 0.05 0.1
}
gen demo-welcome "Thank you for calling Hibiki."
gen hello "Hello,"
gen welcome-back "welcome back to Hibiki."
gen main-menu "For support, press 1. For billing, press 2. To leave a callback request, press 3. For an operator, press 0."
gen no-input "Sorry, I did not hear a choice."
gen invalid "Sorry, that is not one of the choices."
gen after-hours "Our office is closed now. We are open Monday to Friday, from 9 in the morning to 6 in the evening."
gen holiday "Our office is closed today for a holiday."
gen all-busy "All our agents are busy."
gen leave-message "Please leave your name, your number, and a short message after the tone. We will call you back."
gen callback-thanks "Thank you. We will call you back."
# Queues (src/call/queue.rs): announcements between the hold music.
gen queue-position "You are caller number"
gen queue-wait "in line. Your estimated wait is about"
gen queue-minutes "minutes. Thank you for waiting."
gen queue-wait-short "in line. An agent will be with you shortly."
gen queue-callback-offer "To be called back without losing your place in line, press 1."
gen queue-callback-confirmed "Thank you. You keep your place in line, and we will call you back at the number you are calling from. Goodbye."
# Hold music: a quiet, slow plucked arpeggio, 8 seconds, looped by queues.
notes=""
for n in C4 E4 G4 E4 A3 C4 E4 C4; do
    sox -n -r 8000 -c 1 -b 16 "/tmp/note-$n.wav" synth 1 pluck "$n" vol 0.3
    notes="$notes /tmp/note-$n.wav"
done
# shellcheck disable=SC2086
sox $notes en/hold-music.wav
rm -f /tmp/note-*.wav
rm -f /tmp/ivr-prompt.wav
