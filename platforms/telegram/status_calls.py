"""The Bot API calls that post and edit a chat's status message (`platforms/telegram/board.py`)."""

from __future__ import annotations

from telegram import Bot, InputMediaPhoto, Message
from telegram.error import BadRequest

from core.messages import MediaReader
from platforms.telegram import render
from platforms.telegram.board import StatusBoard
from platforms.telegram.callbacks import CallbackSigner
from platforms.telegram.pacing import ALREADY_PACED


async def post(
    bot: Bot,
    signer: CallbackSigner,
    read: MediaReader,
    chat_id: int,
    board: StatusBoard,
    reply_to: int | None,
) -> Message:
    """The board as a new message; the caller has waited for the chat's turn."""
    reply = board.render()
    markup = render.keyboard(reply, signer)
    if reply.media is not None:
        return await bot.send_photo(
            chat_id,
            await read(reply.media),
            caption=render.caption(reply.text),
            reply_markup=markup,
            reply_parameters=render.reply_to(reply_to),
            rate_limit_args=ALREADY_PACED,
        )
    return await bot.send_message(
        chat_id,
        render.split_text(reply.text)[0],
        reply_markup=markup,
        reply_parameters=render.reply_to(reply_to),
        rate_limit_args=ALREADY_PACED,
    )


async def edit(
    bot: Bot, signer: CallbackSigner, read: MediaReader, chat_id: int, board: StatusBoard, message_id: int
) -> bool:
    """Shows the board in its message; returns whether the message is a photo now."""
    reply = board.render()
    markup = render.keyboard(reply, signer)
    try:
        if reply.media is not None:
            media = InputMediaPhoto(await read(reply.media), caption=render.caption(reply.text))
            await bot.edit_message_media(media, chat_id, message_id, reply_markup=markup)
            return True
        if board.shows_photo:
            await bot.edit_message_caption(
                chat_id, message_id, caption=render.caption(reply.text), reply_markup=markup
            )
        else:
            await bot.edit_message_text(
                render.split_text(reply.text)[0], chat_id, message_id, reply_markup=markup
            )
    except BadRequest as error:
        if "not modified" not in error.message.lower():
            raise
    return board.shows_photo
