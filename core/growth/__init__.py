"""Growing the audience: operators' credit codes and personal invitations."""
