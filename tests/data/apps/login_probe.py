"""The smallest app that signs in with Streamlit's own st.login / st.user: proves the OpenID Connect
chain (provider, secrets, callback, cookie) on its own, before the real app relies on it."""

import streamlit as st

if not st.user.is_logged_in:
    st.text("not signed in")
    st.button("Sign in", on_click=st.login)
    st.stop()

st.text(f"signed in as {st.user.get('email')}")
st.text(f"groups: {','.join(st.user.get('groups') or [])}")
st.button("Sign out", on_click=st.logout)
