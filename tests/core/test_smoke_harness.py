from tests.harness import Harness


async def test_imagine_delivers_an_image_and_charges_once(harness: Harness) -> None:
    job = await harness.imagine("a red fox --ar 16:9")
    final = await harness.chat.wait_final(job)
    assert final.type.value == "actions"
    assert (await harness.balance()).total == 30
    await harness.assert_ledger_consistent()
