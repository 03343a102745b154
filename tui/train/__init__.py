"""Format-specific training: LoRA adapters from the user's own chats, stories and texts.

Data files become token sequences exactly as the app would send them (data, sequences), a PEFT LoRA adapter is
trained on them with checkpoints a preempted VM resumes from (loop, checkpoints), and the result is a standard
PEFT adapter directory with a card that names the base model it belongs to (card). Headless: no Textual; torch,
transformers and peft load only when a run starts.
"""
