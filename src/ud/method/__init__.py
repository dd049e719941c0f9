"""The paper's method (§3, Algorithm 1), one step per module:

    normalize    raw samples -> answer classes with their frequencies f (multiple choice: the option)
    equivalence  open answers: key normalizers (numbers, text)
    clustering   open answers: NLI / LLM-judge clustering of the keys' classes
    calibrate    f -> p, post hoc (isotonic, Platt, none), saved as JSON
    binning      p -> bin -> verbal (or numeric) label, and back
    annotate     the self-annotated SFT set: answers with their stated confidence
    train        SFT with TRL (LoRA through peft, or full)
    evaluate     the distilled model's one generation -> answer and confidence
    export       the distilled model as a standalone transformers folder with a model card (`ud export`)
    claims       multi-claim outputs (Appendix A.2); claims_run drives them over a folder
"""
