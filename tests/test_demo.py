"""The Gradio demo with the tiny model: answers come back (the text is random but must appear), bad clips get a
message in the chat, 8 requests at once all get answers, and a real headless Chromium can upload or record a clip,
send with Enter, stop an answer, clear a conversation mid-answer and read the model's card."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import soundfile as sf

from audiollm import AudioLLM, AudioLLMConfig
from audiollm.audio import SAMPLE_RATE
from audiollm.demo import EXAMPLES_DIR, build_demo, describe_model, launch
from audiollm.ports import free_port
from audiollm.speech import load_speech

from .conftest import TINY_CONFIG, tone

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
MAX_SECONDS = 5.0
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,1300"]


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    import torch

    torch.manual_seed(0)  # the same random tiny model, and so the same answers, on every run
    model = AudioLLM.from_config(AudioLLMConfig.from_yaml(TINY_CONFIG))
    demo = build_demo(model, load_speech(), max_seconds=MAX_SECONDS, max_new_tokens=24, info=describe_model("default"))
    port = free_port()
    launch(demo, port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture(scope="module")
def client(demo_url: str):
    from gradio_client import Client

    return Client(demo_url, verbose=False)


def chat_texts(chat: list[dict], role: str) -> list[str]:
    return [part["text"] for message in chat if message["role"] == role
            for part in message["content"] if part["type"] == "text"]


def test_demo_binds_loopback_only(demo_url: str):
    import psutil

    port = int(demo_url.rstrip("/").rsplit(":", 1)[1])
    listening = {c.laddr.ip for c in psutil.Process().net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
    assert listening == {"127.0.0.1"}  # the socket the demo listens on, not the URL it was given


def test_eight_requests_at_once_all_get_answers(client):
    from gradio_client import handle_file

    clip = handle_file(str(EXAMPLES_DIR / "chord.flac"))
    jobs = [client.submit(clip, f"Question {i}?", [], [], api_name="/respond") for i in range(8)]
    results = [job.result(timeout=240) for job in jobs]
    for i, (chat, *_rest) in enumerate(results):
        assert chat_texts(chat, "user") == [f"Question {i}?"]
        assert chat[0]["content"][0]["type"] == "file", "the clip is not shown in the chat"
        answers = chat_texts(chat, "assistant")
        assert len(answers) == 1 and answers[0].strip(), f"request {i} got no answer"


def test_an_upload_over_the_limit_is_refused(demo_url: str):
    import httpx

    from audiollm.demo import MAX_UPLOAD_MB

    big = b"RIFF" + b"\0" * int(MAX_UPLOAD_MB * 1e6)
    reply = httpx.post(demo_url + "gradio_api/upload", files={"files": ("big.wav", big, "audio/wav")}, timeout=120)
    assert reply.status_code == 413, reply.text[:200]
    small = httpx.post(demo_url + "gradio_api/upload", files={"files": ("clip.flac", (EXAMPLES_DIR / "chord.flac")
                                                                         .read_bytes(), "audio/flac")}, timeout=120)
    assert small.status_code == 200


@pytest.mark.parametrize("kind, message", [
    ("text", "not a readable audio file"),
    ("long", f"this demo takes clips up to {MAX_SECONDS:.0f} s"),
    ("nothing", "Record or upload a clip, or type a message."),
])
def test_bad_clips_get_a_message_in_the_chat(kind: str, message: str, client, tmp_path: Path):
    from gradio_client import handle_file

    if kind == "text":
        path = tmp_path / "notes.txt"
        path.write_text("not audio at all")
        clip, text = handle_file(str(path)), "What is this?"
    elif kind == "long":
        path = tmp_path / "long.wav"
        sf.write(path, tone(MAX_SECONDS + 1), SAMPLE_RATE)
        clip, text = handle_file(str(path)), "What is this?"
    else:
        clip, text = None, ""
    chat, *_rest = client.predict(clip, text, [], [], api_name="/respond")
    replies = chat_texts(chat, "assistant")
    assert len(chat) == 1 and len(replies) == 1 and message in replies[0]
    assert "Traceback" not in replies[0]


# ---- in a real browser --------------------------------------------------------------------------------------


@pytest.fixture
def browser(tmp_path: Path, request: pytest.FixtureRequest):
    webdriver = pytest.importorskip("selenium.webdriver")
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        pytest.skip("needs the Debian packages chromium and chromium-driver")

    def start(*extra: str):
        options = webdriver.ChromeOptions()
        for flag in [*CHROME_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *extra]:
            options.add_argument(flag)
        options.binary_location = chromium
        driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(driver_path))
        drivers.append(driver)
        return driver

    drivers: list = []
    yield start
    for driver in drivers:
        driver.quit()


def screenshot(driver, tmp_path: Path, name: str) -> Path:
    """Kept under pytest's tmp path and copied to test-artifacts/ for looking at after the run."""
    shot = tmp_path / f"{name}.png"
    driver.save_screenshot(str(shot))
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / shot.name)
    return shot


def last_answer(driver) -> str | bool:
    from selenium.webdriver.common.by import By

    bots = driver.find_elements(By.CSS_SELECTOR, "#chat [data-testid=bot]")
    return bool(bots) and bots[-1].text.strip()


def ask_and_read_answer(driver, question: str) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element(By.CSS_SELECTOR, "#message textarea").send_keys(question)
    driver.find_element(By.ID, "send").click()
    answer = last_answer
    WebDriverWait(driver, 120).until(answer)
    # Wait for the stream to finish: the text stops changing.
    last, deadline = "", time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = answer(driver)
        if now == last:
            break
        last = now
    return str(last)


def user_has_audio(driver) -> bool:
    from selenium.webdriver.common.by import By

    return bool(driver.find_elements(By.CSS_SELECTOR, "#chat [aria-label=\"user's message: a component of type audio\"]"))


@pytest.mark.browser
def test_browser_upload_ask_and_read_the_answer(browser, demo_url: str, tmp_path: Path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser()
    driver.get(demo_url)
    wait = WebDriverWait(driver, 60)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#clip button[aria-label='Upload file']"))
    driver.find_element(By.CSS_SELECTOR, "#clip button[aria-label='Upload file']").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#clip input[type=file]"))
    driver.find_element(By.CSS_SELECTOR, "#clip input[type=file]").send_keys(str(EXAMPLES_DIR / "speech.flac"))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#clip audio, #clip [data-testid^=waveform] .timestamp"))
    answer = ask_and_read_answer(driver, "What does the speaker say?")
    shot = screenshot(driver, tmp_path, "demo-upload")
    assert answer
    assert "What does the speaker say?" in driver.find_element(By.ID, "chat").text
    assert user_has_audio(driver), "the uploaded clip is not shown in the chat"
    spoken = driver.find_element(By.CSS_SELECTOR, "#spoken audio")
    wait.until(lambda d: spoken.get_attribute("src"))
    assert shot.stat().st_size > 10_000


@pytest.mark.browser
def test_browser_fake_microphone(browser, demo_url: str, tmp_path: Path):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    import soxr

    speech, rate = sf.read(EXAMPLES_DIR / "speech.flac", dtype="float32")
    clip = tmp_path / "clip.wav"
    sf.write(clip, soxr.resample(speech, rate, 44_100), 44_100)  # Chromium's fake capture records at 44.1 kHz
    driver = browser("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                     f"--use-file-for-fake-audio-capture={clip}")
    driver.get(demo_url)
    # The stop button is replaced as the recording ends: a check that found it may see it detached, so look again.
    wait = WebDriverWait(driver, 60, ignored_exceptions=(StaleElementReferenceException,))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#clip button[aria-label='Record audio']"))
    driver.find_element(By.CSS_SELECTOR, "#clip button[aria-label='Record audio']").click()  # upload comes first
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#clip button.record-button"))
    driver.find_element(By.CSS_SELECTOR, "#clip button.record-button").click()
    time.sleep(2.5)
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#clip button.stop-button").is_displayed())
    driver.find_element(By.CSS_SELECTOR, "#clip button.stop-button").click()
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#clip button.stop-button")
               or not d.find_element(By.CSS_SELECTOR, "#clip button.stop-button").is_displayed())
    time.sleep(1.0)  # the recording uploads
    answer = ask_and_read_answer(driver, "What did I say?")
    screenshot(driver, tmp_path, "demo-microphone")
    assert answer
    assert user_has_audio(driver), "the recording is not shown in the chat"
    assert "cannot be used" not in answer


def upload(driver, clip: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, 60)
    # Upload is the first source: its file input is there without choosing it.
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#clip input[type=file]"))
    driver.find_element(By.CSS_SELECTOR, "#clip input[type=file]").send_keys(str(clip))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#clip audio, #clip [data-testid^=waveform] .timestamp"))


@pytest.mark.browser
def test_browser_enter_sends_and_shift_enter_starts_a_new_line(browser, demo_url: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser()
    driver.get(demo_url)
    upload(driver, EXAMPLES_DIR / "doorbell.flac")
    box = driver.find_element(By.CSS_SELECTOR, "#message textarea")
    box.send_keys("What rings?")
    box.send_keys(Keys.SHIFT, Keys.ENTER)
    box.send_keys("Say it briefly.")
    assert box.get_attribute("value") == "What rings?\nSay it briefly.", "Shift+Enter did not start a new line"
    box.send_keys(Keys.ENTER)
    WebDriverWait(driver, 120).until(last_answer)
    user = driver.find_elements(By.CSS_SELECTOR, "#chat [data-testid=user]")[-1].text
    assert user.splitlines()[-2:] == ["What rings?", "Say it briefly."]
    assert box.get_attribute("value") == ""


@pytest.mark.browser
def test_browser_clear_during_an_answer_empties_the_chat_and_the_player(browser, demo_url: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser()
    driver.get(demo_url)
    upload(driver, EXAMPLES_DIR / "speech.flac")
    driver.find_element(By.CSS_SELECTOR, "#message textarea").send_keys("What does the speaker say?", Keys.ENTER)
    WebDriverWait(driver, 120).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#spoken audio"))
    driver.find_element(By.ID, "clear").click()
    time.sleep(4)  # long enough for the rest of the answer to arrive, had it not been cancelled
    assert not driver.find_elements(By.CSS_SELECTOR, "#spoken audio"), "the spoken answer's player was not reset"
    assert not driver.find_elements(By.CSS_SELECTOR, "#chat [data-testid=bot], #chat [data-testid=user]")


@pytest.mark.browser
def test_browser_page_names_the_model_and_opens_its_card(browser, demo_url: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser()
    driver.get(demo_url)
    wait = WebDriverWait(driver, 60)
    # The page renders in pieces: the card comes after the line about the model.
    wait.until(lambda d: d.find_elements(By.ID, "about") and d.find_elements(By.CSS_SELECTOR, "#card button"))
    info = describe_model("default")
    assert info.summary and info.card
    about = " ".join(driver.find_element(By.ID, "about").text.split())
    assert f"Model: default — {info.summary}" in about and "model card below" in about
    # The card's first section heading shows once the card is opened, not before.
    heading = next(line[3:] for line in info.card.splitlines() if line.startswith("## "))
    assert heading not in driver.find_element(By.ID, "card").text, "the card should start folded"
    driver.find_element(By.CSS_SELECTOR, "#card button").click()
    wait.until(lambda d: heading in d.find_element(By.ID, "card").text)


class SlowModel:
    """Answers one word every 0.2 s for a minute, and notes when the demo stops asking for more."""

    def __init__(self) -> None:
        self.closed = False

    def stream(self, messages, max_new_tokens=None):
        try:
            for i in range(300):
                time.sleep(0.2)
                yield f"word{i} "
        finally:
            self.closed = True


@pytest.mark.browser
def test_browser_stop_ends_the_answer_and_the_generation(browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    slow = SlowModel()
    demo = build_demo(slow, None, max_seconds=MAX_SECONDS)  # type: ignore[arg-type]
    port = free_port()
    launch(demo, port=port, prevent_thread_lock=True, quiet=True)
    try:
        driver = browser()
        driver.get(f"http://127.0.0.1:{port}/")
        WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#message textarea"))
        driver.find_element(By.CSS_SELECTOR, "#message textarea").send_keys("Talk.", Keys.ENTER)
        WebDriverWait(driver, 60).until(lambda d: "word3" in str(last_answer(d)))
        driver.find_element(By.ID, "stop").click()
        time.sleep(1.5)
        stopped = str(last_answer(driver))
        time.sleep(2.0)
        assert str(last_answer(driver)) == stopped, "the answer kept growing after Stop"
        assert "word299" not in stopped
        deadline = time.monotonic() + 10
        while not slow.closed and time.monotonic() < deadline:
            time.sleep(0.2)
        assert slow.closed, "the model kept generating after Stop"
    finally:
        demo.close()
