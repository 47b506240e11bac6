resp = requests.post(
    f"{BASE_URL}/resemble/detect",
    headers={"Authorization": f"Bearer {API_KEY}"},
    json={
        "modality": "audio",
        "url": "https://example.com/suspicious.mp3",
    },
).json()
# Poll /resemble/detect/{job_id}; final payload carries detection score + verdict.
