# 1. Create the voice shell
voice = requests.post(
    f"{BASE_URL}/resemble/voices",
    headers={"Authorization": f"Bearer {API_KEY}"},
    json={"name": "My Custom Voice", "consent_text": "I consent…"},
).json()

# 2. Upload training recordings (one or more)
requests.post(
    f"{BASE_URL}/resemble/voices/{voice['uuid']}/recordings",
    headers={"Authorization": f"Bearer {API_KEY}"},
    json={"fields": {"name": "sample-1", "audio_url": "https://…/sample.wav"}},
)

# 3. Kick off training — bills a voice_subscriptions unit
requests.post(
    f"{BASE_URL}/resemble/voices/{voice['uuid']}/build",
    headers={"Authorization": f"Bearer {API_KEY}"},
)
